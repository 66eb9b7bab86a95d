package host

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// callCtx is the context one call or event delivery runs under, and the
// watch that keeps its deadline and catches a handler that overruns it.
//
// It replaces, per call, context.WithTimeout under the generation's
// context, context.AfterFunc for the generation's end and another for the
// overrun watchdog: three contexts, a timer and a dozen allocations, a
// third of everything the host allocated for an add2 call. A callCtx is
// one object; its deadline is kept by the generation's deadline lanes,
// which need one timer per timeout value rather than one per call.
//
// It behaves as a context from context.WithDeadline would: Err is
// context.DeadlineExceeded once the deadline has passed and
// context.Canceled when the call was interrupted or the code retired, and
// contexts a script derives from it end with it (through AfterFunc,
// without a goroutine each).
type callCtx struct {
	// link is the session an invocation arrived on, where its answer
	// (progress included) must leave, not on one a reconnect put in its
	// place meanwhile; nil for events.
	link     *link
	deadline time.Time // set by start, before the handler sees the context
	// callerDeadline is the caller's own timeout (the INVOCATION's
	// "timeout" option), when it set one.
	callerDeadline time.Time

	mu    sync.Mutex
	done  chan struct{} // made on first use, as the standard contexts do
	err   error
	funcs map[*afterFunc]struct{}

	// The watch, set by start.
	gen       *generation
	comp      *component
	what      handlerName
	onOverrun func()      // nil for an invocation: the watch answers request
	request   nxwamp.ID   // the invocation's, on link
	timer     *time.Timer // the caller's deadline, when earlier than the lane's
	started   bool
	finished  atomic.Bool
	claimed   atomic.Bool // by finish or by onOverrun: exactly one decides the answer

	// Deadline lane membership, guarded by the generation's lanes.mu.
	lane       *lane
	timeout    time.Duration // which lane
	due        time.Time     // when the lane ends it
	prev, next *callCtx
}

// handlerName says what runs under a callCtx, for the runaway log; the
// two parts are joined only then, not on every call.
type handlerName struct{ kind, name string }

func (n handlerName) String() string { return n.kind + " " + n.name }

type afterFunc struct{ f func() }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newCallCtx(l *link) *callCtx { return &callCtx{link: l} }

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value finds nothing: no values are put on a handler's context. (Not
// passing lookups on to an ancestor also keeps the context package from
// taking that ancestor's cancelation state for this context's.)
func (c *callCtx) Value(key any) any { return nil }

func (c *callCtx) String() string { return "wamphost call context" }

// AfterFunc lets context.AfterFunc and contexts derived from this one hang
// off it without a goroutine each (the context package looks for it).
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	if c.funcs == nil {
		c.funcs = map[*afterFunc]struct{}{}
	}
	c.funcs[a] = struct{}{}
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.funcs[a]; !ok {
			return false
		}
		delete(c.funcs, a)
		return true
	}
}

// cancel ends the context with err; the first end counts. If the handler
// is still running, the overrun watch starts.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	watching := c.started && !c.finished.Load()
	c.mu.Unlock()
	for a := range funcs {
		go a.f()
	}
	if watching {
		time.AfterFunc(overrunGrace, c.checkOverrun)
	}
}

// start puts the context under generation g's deadline of d (or the
// caller's, if earlier) before the handler runs, on the caller's own
// goroutine (handing it to another would cost a wake-up per call). Once
// the context has ended and overrunGrace has passed with the handler
// still running, the watch claims the answer (unless finish claimed it
// first) and runs onOverrun, or, for an invocation (nil onOverrun),
// answers the caller with wamp.error.timeout or canceled itself. From its
// deadline on, the handler counts as runaway. finish reports which of the
// two claimed the answer, so exactly one of them decides what the caller
// is told.
func (c *callCtx) start(comp *component, g *generation, d time.Duration, what handlerName, onOverrun func()) {
	c.comp, c.gen, c.what, c.onOverrun = comp, g, what, onOverrun
	due := time.Now().Add(d)
	callerFirst := !c.callerDeadline.IsZero() && c.callerDeadline.Before(due)
	c.mu.Lock()
	c.started = true
	c.timeout, c.due, c.deadline = d, due, due
	if callerFirst {
		c.deadline = c.callerDeadline
	}
	ended := c.err != nil
	c.mu.Unlock()
	if ended {
		// Interrupted before it started: the handler sees a done context.
		time.AfterFunc(overrunGrace, c.checkOverrun)
		return
	}
	g.lanes.join(c)
	if callerFirst {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	}
}

// finish marks the handler returned and reports whether its result is the
// answer, that is whether onOverrun has not run.
func (c *callCtx) finish() bool {
	c.finished.Store(true)
	if c.gen != nil {
		c.gen.lanes.leave(c)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	// Contexts the handler derived (and left running) end with it.
	c.cancel(context.Canceled)
	return c.claimed.CompareAndSwap(false, true)
}

// checkOverrun runs overrunGrace after the context ended.
func (c *callCtx) checkOverrun() {
	if c.finished.Load() || !c.claimed.CompareAndSwap(false, true) {
		return
	}
	if c.onOverrun != nil {
		c.onOverrun()
	} else if c.link != nil {
		// The caller is owed an answer now, whatever the handler does.
		c.link.peer.answer(c.request, ctxError(c))
	}
	// Code that is still running past its deadline is runaway: yaegi cannot
	// stop one call, so the component gets a fresh interpreter and the old
	// one is stopped (DESIGN.md decision 6).
	wait := max(time.Until(c.deadline)+overrunGrace, overrunGrace)
	time.AfterFunc(wait, func() {
		if c.finished.Load() {
			return
		}
		c.gen.overrun.Do(func() {
			c.comp.log.Error("runaway handler: still running past its deadline and ignoring its context; restarting the component's interpreter", "handler", c.what.String())
			c.comp.h.restartRunaway(c.comp, c.gen)
		})
	})
}

// lanes keeps the deadlines of a generation's running calls. Calls with
// the same timeout form a lane: a list in deadline order, since each joins
// at now plus the same timeout, with one timer for its head. The timer is
// left armed when calls finish and re-armed only when it fires, so a busy
// lane touches the runtime's timers about once per timeout, not per call.
type lanes struct {
	mu        sync.Mutex
	byTimeout map[time.Duration]*lane
	retired   bool
}

type lane struct {
	owner      *lanes
	d          time.Duration
	head, tail *callCtx
	timer      *time.Timer
	armed      bool
}

// join adds c at the tail of its lane. (Calls joining at the same moment
// may land a few nanoseconds out of order, which only delays the earlier
// one's end by as much.)
func (ls *lanes) join(c *callCtx) {
	d := c.timeout
	ls.mu.Lock()
	if ls.retired {
		ls.mu.Unlock()
		c.cancel(context.Canceled)
		return
	}
	l := ls.byTimeout[d]
	if l == nil {
		if ls.byTimeout == nil {
			ls.byTimeout = map[time.Duration]*lane{}
		}
		l = &lane{owner: ls, d: d}
		ls.byTimeout[d] = l
	}
	c.lane, c.prev, c.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
	if !l.armed {
		l.armed = true
		if l.timer == nil {
			l.timer = time.AfterFunc(d, l.fire)
		} else {
			l.timer.Reset(d)
		}
	}
	ls.mu.Unlock()
}

func (ls *lanes) leave(c *callCtx) {
	ls.mu.Lock()
	if c.lane != nil {
		c.lane.unlink(c)
	}
	ls.mu.Unlock()
}

func (l *lane) unlink(c *callCtx) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.lane, c.prev, c.next = nil, nil, nil
}

// fire ends the calls whose deadline has come and re-arms for the next.
func (l *lane) fire() {
	ls := l.owner
	ls.mu.Lock()
	now := time.Now()
	var expired []*callCtx
	for l.head != nil && !l.head.due.After(now) {
		c := l.head
		l.unlink(c)
		expired = append(expired, c)
	}
	if l.head != nil && !ls.retired {
		l.timer.Reset(l.head.due.Sub(now))
	} else {
		l.armed = false
	}
	ls.mu.Unlock()
	for _, c := range expired {
		c.cancel(context.DeadlineExceeded)
	}
}

// retire ends every running call's context, and those that start later.
func (ls *lanes) retire() {
	ls.mu.Lock()
	ls.retired = true
	var running []*callCtx
	for _, l := range ls.byTimeout {
		for l.head != nil {
			c := l.head
			l.unlink(c)
			running = append(running, c)
		}
		if l.timer != nil {
			l.timer.Stop()
		}
		l.armed = false
	}
	ls.mu.Unlock()
	for _, c := range running {
		c.cancel(context.Canceled)
	}
}
