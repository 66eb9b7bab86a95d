// Package counter is the Autobahn guide's publisher: once joined, it
// publishes an incrementing integer to com.myapp.oncounter every second.
package counter

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

// OnJoin starts the publishing loop. It runs through s.Go, so the loop
// stops when the component stops or reloads, and a panic in it is logged
// instead of crashing the daemon.
func OnJoin(ctx context.Context, s wamp.Session) error {
	s.Go(func(ctx context.Context) {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for counter := 0; ; counter++ {
			if err := s.Publish("com.myapp.oncounter", counter); err != nil {
				s.Log().Warn("publish failed", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	})
	return nil
}
