// Package oncounter is the Autobahn guide's subscriber:
//
//	def oncounter(count):
//	    print("event received: {0}", count)
//
//	self.subscribe(oncounter, 'com.myapp.oncounter')
package oncounter

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var log wamp.Logger

// OnJoin keeps the component's logger; it runs before events are delivered.
func OnJoin(ctx context.Context, s wamp.Session) error {
	log = s.Log()
	return nil
}

// OnCounter receives each counter value.
func OnCounter(count int) {
	log.Info("event received", "count", count)
}
