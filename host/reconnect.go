package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wamphost/wamphost/loader"
	"github.com/wamphost/wamphost/wamp"
)

// supervisor keeps a component attached to its external router: nexus
// clients never reconnect (DESIGN.md decision 9), so when the session ends
// it dials again with backoff, then restores the session's bindings and
// runs OnJoin again (rejoin).
type supervisor struct {
	c     *component
	name  string // the component's, for metrics
	conn  *loader.Connection
	realm string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	up       bool
	gaveUp   bool
	downAt   time.Time
	attempts int
	lastErr  error
}

func routerName(cc *loader.Component) string {
	if cc.Router == "" {
		return "embedded"
	}
	return cc.Router
}

func (c *component) newSupervisor() *supervisor {
	if c.config().Connection == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &supervisor{c: c, name: c.name, conn: c.config().Connection, realm: c.config().Realm, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// supervise watches a joined link of an external router.
func (c *component) supervise(l *link) {
	if c.sup == nil {
		return
	}
	c.sup.mu.Lock()
	c.sup.up = true
	c.sup.mu.Unlock()
	go c.sup.run(l)
}

// joinLater decides what a failed first dial means. A router that cannot
// be reached yet is waited for, as after a lost connection, so that the
// daemon starts whatever order services come up in. A router that answers
// and refuses (wrong secret, unknown realm), or whose TLS handshake fails
// (untrusted certificate, wrong name, no TLS on the port), is a config
// error: the start fails with the router's error URI or the TLS error.
func (c *component) joinLater(err error) bool {
	var refused *RefusedError
	var tlsErr *TLSError
	if c.config().Connection == nil || errors.As(err, &refused) || errors.As(err, &tlsErr) {
		return false
	}
	c.log.Warn("router unreachable: the component joins when it answers", "router", c.config().Router, "url", c.config().Connection.URL, "error", err)
	c.sup.downAt = time.Now()
	c.sup.lastErr = err
	go c.sup.run(nil)
	return true
}

// stopSupervisor ends reconnecting; it must not be called with c.life held.
func (c *component) stopSupervisor() {
	if c.sup == nil {
		return
	}
	c.sup.cancel()
	<-c.sup.done
}

func (c *component) linkUp() bool {
	cl := c.cl()
	return cl != nil && cl.Connected()
}

// notConnected is the error a script's call, publish or registration gets
// while the session is down: at once, never after a timeout.
func (c *component) notConnected() error {
	if c.sup == nil {
		return wamp.NewError(wamp.ErrUnavailable, "not connected to the router")
	}
	return wamp.NewError(wamp.ErrUnavailable, c.sup.describe())
}

func (s *supervisor) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	state := fmt.Sprintf("reconnecting (%d attempts so far)", s.attempts)
	if s.gaveUp {
		state = fmt.Sprintf("gave up after %d attempts", s.attempts)
	}
	msg := fmt.Sprintf("not connected to router %s (%s): %s, down for %s", s.conn.Name, s.conn.URL, state, time.Since(s.downAt).Round(time.Millisecond))
	if s.lastErr != nil {
		msg += "; last error: " + s.lastErr.Error()
	}
	return msg
}

func (s *supervisor) run(l *link) {
	defer close(s.done)
	log := s.c.log
	for {
		if l != nil {
			select {
			case <-l.client.Done():
			case <-s.ctx.Done():
				return
			}
			// Sends to the dead transport would block the client for ever.
			l.peer.abandon()
			if s.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			s.up, s.downAt, s.attempts, s.lastErr = false, time.Now(), 0, nil
			s.mu.Unlock()
			reason := "connection lost"
			if gb := l.client.RouterGoodbye(); gb != nil {
				reason = "router said goodbye: " + string(gb.Reason)
			}
			log.Warn("lost the router: reconnecting; calls and publishes from scripts fail with wamp.error.unavailable meanwhile",
				"router", s.conn.Name, "url", s.conn.URL, "reason", reason, "session", uint64(l.client.ID()))
		}
		if l = s.redial(); l == nil {
			return
		}
	}
}

// gaveUp reports whether the component stopped reconnecting for good.
func (c *component) gaveUp() bool {
	if c.sup == nil {
		return false
	}
	c.sup.mu.Lock()
	defer c.sup.mu.Unlock()
	return c.sup.gaveUp
}

// redial dials until it joins, the policy gives up, or the component
// stops. The first attempt is immediate (a blip heals at once); then the
// delay grows from InitialDelay by Factor up to MaxDelay, with jitter.
func (s *supervisor) redial() *link {
	pol, log := s.conn.Reconnect, s.c.log
	var delay time.Duration
	for {
		s.mu.Lock()
		if pol.MaxRetries >= 0 && s.attempts >= pol.MaxRetries {
			s.gaveUp = true
			lastErr := s.lastErr
			s.mu.Unlock()
			s.c.h.setGaveUp(s.name, s.conn.Name)
			log.Error("gave up reconnecting: the component stays down, and the daemon not ready, until a reload (SIGHUP) or a restart",
				"router", s.conn.Name, "url", s.conn.URL, "attempts", pol.MaxRetries, "last_error", fmt.Sprint(lastErr))
			return nil
		}
		s.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return nil
			}
		}
		s.mu.Lock()
		s.attempts++
		attempt := s.attempts
		s.mu.Unlock()
		l, err := dialNetwork(s.ctx, s.conn, s.realm, log)
		if err == nil {
			var joined bool
			if joined, err = s.rejoin(l); joined {
				return l
			} else if err == nil {
				return nil // stopping
			}
		}
		if s.ctx.Err() != nil {
			return nil
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		delay = nextDelay(delay, pol)
		var refused *RefusedError
		var tlsErr *TLSError
		var joinErr *onJoinError
		switch {
		case errors.As(err, &joinErr):
			log.Error("OnJoin failed after reconnecting: left the new session; retrying with the reconnect policy", "router", s.conn.Name, "error", joinErr.err, "attempt", attempt, "next_in", delay.Round(time.Millisecond))
		case errors.As(err, &refused):
			log.Error("reconnect refused by the router", "router", s.conn.Name, "uri", refused.URI, "error", err, "attempt", attempt, "next_in", delay.Round(time.Millisecond))
		case errors.As(err, &tlsErr):
			log.Error("reconnect failed: TLS", "router", s.conn.Name, "error", err, "attempt", attempt, "next_in", delay.Round(time.Millisecond))
		default:
			log.Warn("reconnect failed", "router", s.conn.Name, "error", err, "attempt", attempt, "next_in", delay.Round(time.Millisecond))
		}
	}
}

// onJoinError is OnJoin failing on a rejoined session.
type onJoinError struct{ err error }

func (e *onJoinError) Error() string { return "OnJoin failed after reconnecting: " + e.err.Error() }
func (e *onJoinError) Unwrap() error { return e.err }

// nextDelay grows the wait by the policy, jittered.
func nextDelay(prev time.Duration, pol loader.Reconnect) time.Duration {
	d := pol.InitialDelay
	if prev > 0 {
		d = time.Duration(float64(prev) * pol.Factor)
	}
	if d > pol.MaxDelay {
		d = pol.MaxDelay
	}
	if pol.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + pol.Jitter*(2*rand.Float64()-1)))
	}
	return max(d, time.Millisecond)
}

// rejoin puts a fresh session in place of the lost one: the old OnJoin's
// epoch ends (OnLeave, background work, run-time bindings), OnJoin runs
// again, and every declared binding is made again on the new session. It
// reports false if the component stopped meanwhile, and an onJoinError if
// OnJoin failed: as at start-up, the bindings do not go live without the
// state OnJoin sets up, so the new session is left and the supervisor
// tries again with its backoff (a dependency OnJoin calls may not be back
// yet), within max_retries.
func (s *supervisor) rejoin(l *link) (bool, error) {
	c := s.c
	c.life.Lock()
	defer c.life.Unlock()
	if s.ctx.Err() != nil {
		go l.close()
		return false, nil
	}
	g := c.current()
	old := c.link.Load()
	if old != nil {
		// The old session is dead: OnLeave's calls and the unregistering
		// fail at once.
		g.endEpoch(c, true)
		go func() { _ = old.close() }()
	}
	c.link.Store(l)
	for _, r := range c.routes {
		if r.queue != nil {
			r.queue.stop()
		}
	}
	c.routes = map[string]*route{}
	if err := g.join(c); err != nil {
		go func() { _ = l.close() }()
		return false, &onJoinError{err}
	}
	var errs []error
	for _, b := range c.config().Bindings() {
		if err := c.bind(b); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	down, attempts := time.Since(s.downAt), s.attempts
	s.up, s.attempts, s.lastErr = true, 0, nil
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		c.log.Error("rejoined, but some bindings failed", "error", err)
	}
	c.h.metrics.reconnects.WithLabelValues(s.name).Inc()
	c.log.Info("rejoined", "router", s.conn.Name, "realm", s.realm, "session", uint64(l.client.ID()),
		"down_for", down.Round(time.Millisecond), "attempts", attempts, "bindings", len(c.config().Bindings())-len(errs))
	return true, nil
}

// swapDown installs a reloaded generation while the session is down: the
// old code's epoch ends now, and the rejoin runs the new OnJoin and binds
// the new config's URIs.
func (c *component) swapDown(prev, next *generation) {
	prev.endEpoch(c, true)
	c.swap.Lock()
	c.gen = next
	c.cfg.Store(next.cfg)
	c.swap.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		prev.drain(ctx)
		prev.retire()
	}()
}
