package interp

import (
	"context"
	"time"
)

// Stop halts every piece of interpreted code running in this program:
// loops end at their next step and later calls return at once with zero
// values. yaegi cannot stop one call, only a whole interpreter, and a
// stopped interpreter is not reusable (DESIGN.md decision 6), so the host
// replaces the program first and stops the old one after. Native calls
// (time.Sleep) and channel operations blocked in a handler are not
// interrupted; their goroutine ends when the operation does.
func (p *Program) Stop() {
	p.stopOnce.Do(func() {
		// EvalWithContext is yaegi's only door to its interpreter-wide stop.
		// The evaluated select{} blocks until that stop closes its done
		// channel, so the cancelled context always wins the race inside
		// EvalWithContext and the stop always happens.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { _ = recover() }()
			_, _ = p.in.EvalWithContext(ctx, "select {}")
		}()
		cancel()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	})
}

// Guard runs fn and returns a recovered panic as a *PanicError carrying
// the script position, for script code the host calls outside a handler
// (a Session.Go function, say).
func (p *Program) Guard(fn func()) (err error) {
	defer p.recoverInto(&err, p.panics.mark())
	fn()
	return nil
}
