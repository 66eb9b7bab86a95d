package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/loader"
	"github.com/wamphost/wamphost/wamp"
)

// session is the wamp.Session a generation's scripts see. It is tied to
// the epoch its OnJoin started, so that Go helpers and run-time bindings end
// with that epoch (at OnLeave, before the next code's OnJoin).
type session struct {
	c  *component
	g  *generation
	ep *epoch
}

var _ wamp.Session = (*session)(nil)

func (s *session) ID() uint64 {
	if cl := s.c.cl(); cl != nil {
		return uint64(cl.ID())
	}
	return 0
}
func (s *session) Realm() string    { return s.c.config().Realm }
func (s *session) Log() wamp.Logger { return s.g.log }
func (s *session) connected() error {
	cl := s.c.cl()
	if cl == nil {
		return s.c.notConnected()
	}
	// What cl.Connected tells, without the lock ctx.Err takes: this runs
	// on every Publish and Call a script makes.
	select {
	case <-cl.Done():
		return s.c.notConnected()
	default:
		return nil
	}
}

func (s *session) Call(ctx context.Context, procedure string, args ...any) (*wamp.Result, error) {
	return s.CallWith(ctx, procedure, args, nil, wamp.CallOptions{})
}

func (s *session) CallWith(ctx context.Context, procedure string, args []any, kwargs map[string]any, opts wamp.CallOptions) (*wamp.Result, error) {
	if err := s.connected(); err != nil {
		return nil, err
	}
	a, k, err := normalize(args, kwargs)
	if err != nil {
		return nil, wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	o := nxwamp.Dict{}
	if opts.Timeout > 0 {
		o[nxwamp.OptTimeout] = opts.Timeout.Milliseconds()
	}
	if opts.DiscloseMe {
		o[nxwamp.OptDiscloseMe] = true
	}
	var progress client.ProgressHandler
	if opts.OnProgress != nil {
		progress = func(r *nxwamp.Result) {
			opts.OnProgress(&wamp.Result{Args: r.Arguments, Kwargs: r.ArgumentsKw})
		}
	}
	res, err := s.c.cl().Call(ctx, procedure, o, a, k, progress)
	if err != nil {
		return nil, callErr(err)
	}
	return &wamp.Result{Args: res.Arguments, Kwargs: res.ArgumentsKw}, nil
}

// callErr turns a nexus call error into a *wamp.Error, so scripts can read
// its URI with wamp.ErrorURI.
func callErr(err error) error {
	var rpc client.RPCError
	if errors.As(err, &rpc) && rpc.Err != nil {
		return &wamp.Error{URI: string(rpc.Err.Error), Args: rpc.Err.Arguments, Kwargs: rpc.Err.ArgumentsKw}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return wamp.NewError(wamp.ErrTimeout, err.Error())
	case errors.Is(err, context.Canceled):
		return wamp.NewError(wamp.ErrCanceled, err.Error())
	}
	if uri, rest, ok := routerErrorURI(err.Error()); ok {
		return wamp.NewError(uri, rest)
	}
	return wamp.NewError(wamp.ErrUnavailable, err.Error())
}

// routerErrorURI recovers the URI from the errors nexus's client returns
// for PUBLISH, REGISTER and SUBSCRIBE, which carry the router's ERROR only
// as text: "waiting for published message: wamp.error.invalid_uri: ...".
// A script can then test for the URI as it does for calls.
func routerErrorURI(msg string) (uri, rest string, ok bool) {
	_, after, found := strings.Cut(msg, ": ")
	if !found {
		return "", "", false
	}
	uri, rest, _ = strings.Cut(after, ": ")
	if !strings.Contains(uri, ".") || strings.ContainsAny(uri, " \t#") {
		return "", "", false
	}
	return uri, rest, true
}

func (s *session) Publish(topic string, args ...any) error {
	return s.PublishWith(context.Background(), topic, args, nil, wamp.PublishOptions{})
}

func (s *session) PublishWith(ctx context.Context, topic string, args []any, kwargs map[string]any, opts wamp.PublishOptions) error {
	if err := s.connected(); err != nil {
		return err
	}
	a, k, err := normalize(args, kwargs)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	// Options made only when there are some: most publishes have none,
	// and nexus only reads them (a nil Dict reads as empty).
	var o nxwamp.Dict
	set := func(key string, v any) {
		if o == nil {
			o = nxwamp.Dict{}
		}
		o[key] = v
	}
	if opts.Acknowledge {
		set(nxwamp.OptAcknowledge, true)
	}
	if opts.IncludeMe {
		set(nxwamp.OptExcludeMe, false)
	}
	if opts.DiscloseMe {
		set(nxwamp.OptDiscloseMe, true)
	}
	if opts.Retain {
		set("retain", true)
	}
	for _, l := range []struct {
		key  string
		list nxwamp.List
	}{
		{nxwamp.BlacklistKey, ids(opts.Exclude)}, {nxwamp.WhitelistKey, ids(opts.Eligible)},
		{"exclude_authid", strs(opts.ExcludeAuthID)}, {"eligible_authid", strs(opts.EligibleAuthID)},
		{"exclude_authrole", strs(opts.ExcludeAuthRole)}, {"eligible_authrole", strs(opts.EligibleAuthRole)},
	} {
		if len(l.list) > 0 {
			set(l.key, l.list)
		}
	}
	if l := s.c.link.Load(); l.local && !opts.Acknowledge {
		// No reply is coming: the embedded router can take the PUBLISH
		// from the peer, without the hand-off through the client.
		l.peer.publish(topic, o, a, k)
		return nil
	}
	if o == nil {
		o = nxwamp.Dict{} // sent: WAMP wants a dict
	}
	if err := s.c.cl().Publish(topic, o, a, k); err != nil {
		return callErr(err)
	}
	return nil
}

func ids(in []uint64) nxwamp.List {
	out := make(nxwamp.List, len(in))
	for i, v := range in {
		out[i] = nxwamp.ID(v)
	}
	return out
}

func strs(in []string) nxwamp.List {
	out := make(nxwamp.List, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

func (s *session) Register(procedure string, handler any, opts wamp.RegisterOptions) error {
	if err := s.connected(); err != nil {
		return err
	}
	proc, err := s.g.prog.ProcedureOf(handler)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	o := nxwamp.Dict{}
	if opts.Match != "" {
		o[nxwamp.OptMatch] = opts.Match
	}
	if opts.Invoke != "" {
		o[nxwamp.OptInvoke] = opts.Invoke
	}
	if opts.DiscloseCaller {
		o[nxwamp.OptDiscloseCaller] = true
	}
	g, ep := s.g, s.ep
	r := s.c.newRoute(s.dynamicBinding(loader.Register, procedure))
	l := s.c.link.Load()
	err = l.register(procedure, func(cc *callCtx, inv *nxwamp.Invocation) client.InvokeResult {
		if !g.enter() {
			return errorResult(wamp.ErrUnavailable, "component "+s.c.name+" is reloading or stopping")
		}
		defer g.leave()
		return s.c.dispatchCall(cc, g, r, proc, inv)
	}, o)
	if err != nil {
		return callErr(err)
	}
	ep.mu.Lock()
	ep.regs = append(ep.regs, procedure)
	ep.mu.Unlock()
	return nil
}

// dynamicBinding describes a run-time binding with the daemon's defaults.
// Its key cannot collide with a declared binding's.
func (s *session) dynamicBinding(kind loader.Kind, uri string) *loader.Binding {
	return &loader.Binding{Kind: kind, URI: uri, Match: "dynamic", Concurrency: loader.DefaultConcurrency, Timeout: s.c.h.callTimeout()}
}

func (s *session) Unregister(procedure string) error {
	if err := s.c.link.Load().unregister(procedure); err != nil {
		return callErr(err)
	}
	return nil
}

func (s *session) Subscribe(topic string, handler any, opts wamp.SubscribeOptions) error {
	if err := s.connected(); err != nil {
		return err
	}
	h, err := s.g.prog.EventHandlerOf(handler)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	o := nxwamp.Dict{}
	if opts.Match != "" {
		o[nxwamp.OptMatch] = opts.Match
	}
	if opts.GetRetained {
		o["get_retained"] = true
	}
	g, ep := s.g, s.ep
	r := s.c.newRoute(s.dynamicBinding(loader.Subscribe, topic))
	q := newEventQueue(s.g.cfg.EventQueue)
	r.queue = q
	q.start(func(ev *nxwamp.Event) bool {
		if !g.enter() {
			return true
		}
		defer g.leave()
		return s.c.dispatchEvent(g, r, h, ev)
	})
	if err := s.c.link.Load().subscribe(topic, func(ev *nxwamp.Event) {
		if !q.offer(ev) {
			r.dropped.Inc()
		}
	}, o); err != nil {
		q.stop()
		return callErr(err)
	}
	ep.mu.Lock()
	ep.subs = append(ep.subs, dynamicSub{topic: topic, queue: q})
	ep.mu.Unlock()
	return nil
}

func (s *session) Unsubscribe(topic string) error {
	if err := s.c.link.Load().unsubscribe(topic); err != nil {
		return callErr(err)
	}
	return nil
}

// Go runs fn under the epoch's context and recovers its panics: a panic in
// a goroutine a script started itself would kill the daemon.
func (s *session) Go(fn func(ctx context.Context)) {
	ep, log := s.ep, s.g.log
	if ep.ctx.Err() != nil {
		log.Warn("Go called after the session's OnJoin epoch ended; not started")
		return
	}
	ep.helpers.Add(1)
	go func() {
		defer ep.helpers.Done()
		for {
			panicked := runRecovered(ep.ctx, log, fn)
			if !panicked || ep.ctx.Err() != nil {
				return
			}
			// A background loop that panics is restarted, with a pause so
			// that a loop panicking at once does not spin.
			select {
			case <-ep.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

func runRecovered(ctx context.Context, log wamp.Logger, fn func(ctx context.Context)) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("background goroutine panicked; restarting it in 1s", "panic", fmt.Sprint(r))
			panicked = true
		}
	}()
	fn(ctx)
	return false
}

// Config decodes the component's config block into v through JSON, so
// that json tags on a script's struct apply.
func (s *session) Config(v any) error {
	b, err := json.Marshal(s.g.cfg.Config)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("component config: %w", err)
	}
	return nil
}
