package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wamphost/wamphost/interp"
	"github.com/wamphost/wamphost/loader"
	"github.com/wamphost/wamphost/wamp"
)

// route is the run-time state of one declared registration or
// subscription. It outlives reloads that keep its URI and options, so its
// concurrency slots and event queue are never reset under load.
type route struct {
	key     string
	uri     string
	timeout time.Duration // for run-time bindings; declared ones read the generation's
	// slots bounds the calls running at once (nil for subscriptions). A
	// reload that changes the limit swaps in a new channel; calls release
	// the one they took a slot from.
	slots  atomic.Pointer[chan struct{}]
	queue  *eventQueue // nil for registrations
	moveOn func()      // for an event handler that overruns its deadline

	// Metric children resolved once, off the hot path.
	seconds  prometheus.Observer
	ok       prometheus.Counter
	rejected prometheus.Counter
	received prometheus.Counter
	dropped  prometheus.Counter
	failed   prometheus.Counter
	depth    prometheus.Gauge
}

func (c *component) newRoute(b *loader.Binding) *route {
	m, name := c.h.metrics, c.name
	r := &route{key: bindingKey(b), uri: b.URI, timeout: b.Timeout}
	if b.Kind == loader.Register {
		r.setConcurrency(b.Concurrency)
		r.seconds = m.callSeconds.WithLabelValues(name, b.URI)
		r.ok = m.calls.WithLabelValues(name, b.URI, "")
		r.rejected = m.rejected.WithLabelValues(name, b.URI)
	} else {
		r.moveOn = func() {
			// Later events must not wait behind a handler that ignores its
			// deadline: a fresh goroutine takes over the queue.
			r.failed.Inc()
			if r.queue != nil {
				r.queue.abandon()
			}
		}
		r.received = m.events.WithLabelValues(name, b.URI)
		r.dropped = m.eventsDropped.WithLabelValues(name, b.URI)
		r.failed = m.eventErrors.WithLabelValues(name, b.URI)
		r.depth = m.queueDepth.WithLabelValues(name, b.URI)
	}
	return r
}

// setConcurrency sets how many calls of the route may run at once, from
// the next call on.
func (r *route) setConcurrency(n int) {
	slots := make(chan struct{}, max(n, 1))
	r.slots.Store(&slots)
}

// overrunGrace is how long a handler may take to return once its context
// has ended before it counts as runaway.
const overrunGrace = 100 * time.Millisecond

// dispatchCall runs one INVOCATION on the generation's handler and turns
// whatever happens (a result, an error, a panic, an overrun) into a WAMP
// answer. The caller always gets an answer with a meaningful URI, at the
// latest shortly after the handler's deadline.
func (c *component) dispatchCall(cc *callCtx, g *generation, r *route, proc interp.Procedure, inv *nxwamp.Invocation) client.InvokeResult {
	start := time.Now()
	res := c.runCall(cc, g, r, proc, inv)
	r.seconds.Observe(time.Since(start).Seconds())
	if res.Err == "" {
		r.ok.Inc()
	} else {
		c.h.metrics.calls.WithLabelValues(c.name, r.uri, string(res.Err)).Inc()
	}
	return res
}

func (c *component) runCall(cc *callCtx, g *generation, r *route, proc interp.Procedure, inv *nxwamp.Invocation) client.InvokeResult {
	if c.h.stopping.Load() {
		return errorResult(wamp.ErrUnavailable, "wamphost is shutting down")
	}
	if proc == nil {
		return errorResult(wamp.ErrNoSuchProcedure, "no handler bound for "+r.uri)
	}
	slots := *r.slots.Load()
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		r.rejected.Inc()
		return errorResult(wamp.ErrUnavailable, fmt.Sprintf("%s is at its concurrency limit (%d calls); retry later", r.uri, cap(slots)))
	}
	call := toInvocation(inv, r.uri)
	if want, _ := inv.Details[nxwamp.OptReceiveProgress].(bool); want {
		call = wamp.NewInvocation(call.Procedure, call.Args, call.Kwargs, func(args []any, kwargs map[string]any) error {
			a, k, err := normalize(args, kwargs)
			if err != nil {
				return err
			}
			return cc.link.peer.progress(inv.Request, a, k)
		})
		fillInvocation(call, inv, r.uri)
	}

	// The handler runs on this goroutine (a worker of the peer's, or the
	// client's goroutine for the invocation); should it overrun, cc's
	// watch answers the caller itself (see callCtx.start).
	cc.request = inv.Request
	cc.start(c, g, g.timeout(r), handlerName{"procedure", call.Procedure}, nil)
	res, err := proc(cc, call)
	if !cc.finish() {
		// Answered at the deadline already.
		return ctxError(cc)
	}
	if g.halted.Load() {
		return errorResult(wamp.ErrCanceled, "interrupted: the component's interpreter was restarted after a runaway handler")
	}
	if err != nil {
		return c.callError(cc, call.Procedure, err)
	}
	// A Procedure's result is built afresh by interp and normally plain
	// already: it needs neither a copy nor a conversion.
	if plainList(res.Args, 0) && plainDict(res.Kwargs, 0) {
		out := client.InvokeResult{}
		if len(res.Args) > 0 {
			out.Args = res.Args
		}
		if len(res.Kwargs) > 0 {
			out.Kwargs = res.Kwargs
		}
		return out
	}
	args, kwargs, nerr := normalize(res.Args, res.Kwargs)
	if nerr != nil {
		return c.callError(cc, call.Procedure, nerr)
	}
	return client.InvokeResult{Args: args, Kwargs: kwargs}
}

// timeout is the route's deadline under this generation's config, so that
// a reload that changes only a timeout takes effect without re-registering.
func (g *generation) timeout(r *route) time.Duration {
	if b, ok := g.binds[r.key]; ok && b.Timeout > 0 {
		return b.Timeout
	}
	if r.timeout > 0 {
		return r.timeout
	}
	return loader.DefaultCallTimeout
}

// ctxError answers a call whose context ended: timeout when a deadline
// passed (the handler's own or the caller's), canceled otherwise.
func ctxError(ctx context.Context) client.InvokeResult {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errorResult(wamp.ErrTimeout, "the handler did not finish before its deadline")
	}
	return errorResult(wamp.ErrCanceled, "the call was canceled")
}

func toInvocation(inv *nxwamp.Invocation, uri string) *wamp.Invocation {
	call := &wamp.Invocation{}
	fillInvocation(call, inv, uri)
	return call
}

func fillInvocation(call *wamp.Invocation, inv *nxwamp.Invocation, uri string) {
	call.Procedure = uri
	// In-process the router hands over its own wamp.URI, not a string.
	if p, ok := nxwamp.AsString(inv.Details[nxwamp.OptProcedure]); ok && p != "" {
		call.Procedure = p
	}
	call.Args = inv.Arguments
	call.Kwargs = inv.ArgumentsKw
	call.Details = inv.Details
	if id, ok := nxwamp.AsID(inv.Details["caller"]); ok {
		call.Caller = uint64(id)
	}
	call.CallerAuthID, _ = nxwamp.AsString(inv.Details["caller_authid"])
	call.CallerAuthRole, _ = nxwamp.AsString(inv.Details["caller_authrole"])
}

// callError maps a handler's error to the WAMP error the caller receives.
func (c *component) callError(ctx context.Context, procedure string, err error) (res client.InvokeResult) {
	defer func() {
		// A script error type whose Error method panics must not escape.
		if r := recover(); r != nil {
			c.log.Error("error value panicked", "procedure", procedure, "panic", fmt.Sprint(r))
			res = errorResult(wamp.ErrRuntimeError, "handler failed")
		}
	}()
	var appErr *wamp.Error
	var panicErr *interp.PanicError
	switch {
	case errors.As(err, &panicErr):
		c.h.metrics.panics.WithLabelValues(c.name, "handler").Inc()
		c.log.Error("handler panicked", "procedure", procedure, "pos", panicErr.Pos.String(), "panic", fmt.Sprint(panicErr.Value))
		return errorResult(wamp.ErrRuntimeError, panicErr.Error())
	case errors.As(err, &appErr):
		args, kwargs, nerr := normalize(appErr.Args, appErr.Kwargs)
		if nerr != nil {
			return errorResult(wamp.ErrRuntimeError, "error payload: "+nerr.Error())
		}
		uri := appErr.URI
		if uri == "" {
			uri = wamp.ErrRuntimeError
		}
		return client.InvokeResult{Err: nxwamp.URI(uri), Args: args, Kwargs: kwargs}
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return ctxError(ctx)
	}
	return errorResult(wamp.ErrRuntimeError, err.Error())
}

func errorResult(uri, msg string) client.InvokeResult {
	return client.InvokeResult{Err: nxwamp.URI(uri), Args: nxwamp.List{msg}}
}

// normalize turns script-made payload values into plain WAMP values. It
// copies, so that a script changing its values later cannot race with
// their serialization.
func normalize(args []any, kwargs map[string]any) (nxwamp.List, nxwamp.Dict, error) {
	var list nxwamp.List
	var dict nxwamp.Dict
	if len(args) > 0 && len(kwargs) == 0 && scalars(args) {
		// What most publishes and calls carry: a copy is all ToWAMP would
		// make of it.
		return append(nxwamp.List(nil), args...), nil, nil
	}
	if len(args) > 0 {
		v, err := interp.ToWAMP(reflect.ValueOf(args))
		if err != nil {
			return nil, nil, err
		}
		list = v.([]any)
	}
	if len(kwargs) > 0 {
		v, err := interp.ToWAMP(reflect.ValueOf(kwargs))
		if err != nil {
			return nil, nil, err
		}
		dict = v.(map[string]any)
	}
	for i, e := range list {
		list[i] = binary(e)
	}
	for k, e := range dict {
		dict[k] = binary(e)
	}
	return list, dict, nil
}

// scalars reports whether l holds only values ToWAMP leaves as they are
// and that hold no references: nil, bool, int64, uint64, float64, string.
func scalars(l []any) bool {
	for _, v := range l {
		switch v.(type) {
		case nil, bool, int64, uint64, float64, string:
		default:
			return false
		}
	}
	return true
}

// binary marks byte slices as WAMP binary, in place. The router encodes a
// plain []byte for JSON peers as bare base64, which they read as a string;
// BinaryData follows WAMP's "\x00"+base64 convention, which Autobahn and
// autobahn-js decode to bytes. MessagePack and CBOR still send raw bytes.
func binary(v any) any {
	switch x := v.(type) {
	case []byte:
		return serialize.BinaryData(x)
	case []any:
		for i, e := range x {
			x[i] = binary(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = binary(e)
		}
	}
	return v
}

// plain reports whether normalize would return v unchanged: it holds only
// nil, bool, int64, uint64, float64, string, non-nil []any and
// map[string]any (ToWAMP turns nil slices and maps into nil and every other
// type into one of these, and binary marks byte slices). Deep or cyclic
// values are left to normalize.
func plain(v any, depth int) bool {
	switch x := v.(type) {
	case nil, bool, int64, uint64, float64, string:
		return true
	case []any:
		return x != nil && plainList(x, depth+1)
	case map[string]any:
		return x != nil && plainDict(x, depth+1)
	}
	return false
}

func plainList(l []any, depth int) bool {
	if depth > 16 {
		return false
	}
	for _, v := range l {
		if !plain(v, depth) {
			return false
		}
	}
	return true
}

func plainDict(m map[string]any, depth int) bool {
	if depth > 16 {
		return false
	}
	for _, v := range m {
		if !plain(v, depth) {
			return false
		}
	}
	return true
}

// dispatchEvent delivers one event under the subscription's deadline;
// errors, panics and overruns are logged and counted, since an event has
// no one to answer. It reports false when the handler overran: the
// delivery goroutine is then to leave the queue to the fresh one r.moveOn
// starts.
func (c *component) dispatchEvent(g *generation, r *route, handler interp.EventHandler, ev *nxwamp.Event) bool {
	if handler == nil {
		return true
	}
	r.received.Inc()
	e := &wamp.Event{Topic: r.uri, Args: ev.Arguments, Kwargs: ev.ArgumentsKw, Details: ev.Details}
	if t, ok := nxwamp.AsString(ev.Details["topic"]); ok && t != "" {
		e.Topic = t
	}
	if id, ok := nxwamp.AsID(ev.Details["publisher"]); ok {
		e.Publisher = uint64(id)
	}
	// The handler runs on the subscription's delivery goroutine; should it
	// overrun, r.moveOn hands the queue to a fresh one.
	cc := newCallCtx(nil)
	cc.start(c, g, g.timeout(r), handlerName{"event handler for", e.Topic}, r.moveOn)
	err := handler(cc, e)
	if !cc.finish() {
		return false
	}
	var panicErr *interp.PanicError
	switch {
	case err == nil:
	case errors.As(err, &panicErr):
		r.failed.Inc()
		c.h.metrics.panics.WithLabelValues(c.name, "event").Inc()
		c.log.Error("event handler panicked", "topic", e.Topic, "pos", panicErr.Pos.String(), "panic", fmt.Sprint(panicErr.Value))
	default:
		r.failed.Inc()
		c.log.Error("event handler failed", "topic", e.Topic, "error", safeError(err))
	}
	return true
}

func safeError(err error) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("(error value panicked: %v)", r)
		}
	}()
	return err.Error()
}

// handlerStack is the stack presizeStack reserves. A new worker
// (componentPeer.worker) starts with a small stack, which yaegi's deep call
// chains grew by doubling, each time copying (and walking) an ever deeper
// stack: 10-15% of the host's CPU under load in a profile, when every call
// had a fresh goroutine. Growing it once, while it is shallow, costs one
// cheap copy. 12 KB makes the stack 16 KB, the largest size the runtime
// recycles from per-P caches (larger stacks come from the heap); add2 and
// similar handlers fit.
const handlerStack = 12 << 10

// stackIndex is a variable, so that the compiler cannot drop the write
// that keeps the pad (and so the stack check for it) in presizeStack.
var stackIndex int

// presizeStack makes the calling goroutine's stack handlerStack deep.
//
//go:noinline
func presizeStack() {
	var pad [handlerStack]byte
	touchStack(&pad)
}

//go:noinline
func touchStack(p *[handlerStack]byte) { p[stackIndex] = 1 }
