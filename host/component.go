package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/interp"
	"github.com/wamphost/wamphost/loader"
	"github.com/wamphost/wamphost/wamp"
)

// generation is one load of a component's scripts with every binding's
// handler resolved. A reload builds a new generation and swaps it in; the
// old one retires once its calls have drained (DESIGN.md decisions 1, 2).
type generation struct {
	cfg     *loader.Component
	prog    *interp.Program
	hash    string                     // of the source files, to tell a real change from a touch
	binds   map[string]*loader.Binding // by binding key
	procs   map[string]interp.Procedure
	events  map[string]interp.EventHandler
	onJoin  func(context.Context, wamp.Session) error
	onLeave func(context.Context, wamp.Session) error
	log     hclog.Logger

	// ctx ends when the generation retires for good, after its calls have
	// drained; handler contexts hang off it.
	ctx    context.Context
	cancel context.CancelFunc

	// halted is set once the interpreter has been stopped after a runaway
	// handler: results still trickling out of it are not to be trusted.
	halted   atomic.Bool
	overrun  sync.Once
	lanes    lanes // deadlines of the calls and deliveries running on this code
	mu       sync.RWMutex
	draining bool
	calls    sync.WaitGroup // calls and event deliveries running on this code
	bg       *epoch         // background work started by the current OnJoin
}

// epoch is what one OnJoin started: Session.Go goroutines and run-time
// registrations. It ends at OnLeave, before the next generation's OnJoin,
// so that two copies of a background loop never run at once.
type epoch struct {
	ctx     context.Context
	cancel  context.CancelFunc
	helpers sync.WaitGroup

	mu   sync.Mutex
	regs []string
	subs []dynamicSub
}

type dynamicSub struct {
	topic string
	queue *eventQueue
}

// enter counts a call or delivery as running on this code; it fails once
// the generation drains, so that drain waits for a number that only falls.
func (g *generation) enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.draining {
		return false
	}
	g.calls.Add(1)
	return true
}

func (g *generation) leave() { g.calls.Done() }

// drain refuses new work and waits for the work in hand until ctx ends.
func (g *generation) drain(ctx context.Context) bool {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	return waitCtx(ctx, &g.calls)
}

// bindingKey identifies a binding across reloads: the same kind, match and
// URI is the same router registration or subscription.
func bindingKey(b *loader.Binding) string {
	return string(b.Kind) + " " + b.Match + " " + b.URI
}

// build loads a component's scripts and resolves every handler it names.
// Nothing touches the network, so a failed build changes nothing.
func build(cc *loader.Component, stdout io.Writer, log hclog.Logger) (*generation, diag.Diagnostics) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if stdout == nil {
		stdout = io.Discard
	}
	hash := sourceHash(cc.Source)
	prog, ds := interp.Load(interp.Options{Source: cc.Source, AllowImports: cc.AllowImports, Stdout: stdout})
	if ds.HasErrors() {
		return nil, ds
	}
	g := &generation{cfg: cc, prog: prog, hash: hash, binds: map[string]*loader.Binding{}, procs: map[string]interp.Procedure{}, events: map[string]interp.EventHandler{}, log: log}
	for _, b := range cc.Bindings() {
		g.binds[bindingKey(b)] = b
	}
	at := func(b *loader.Binding, err error) {
		r := b.HandlerRange
		ds = append(ds, diag.Diagnostic{Severity: diag.Error,
			Pos:     diag.Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column},
			End:     diag.Pos{File: r.Filename, Line: r.End.Line, Column: r.End.Column},
			Summary: fmt.Sprintf("handler for %s %q", b.Kind, b.URI), Detail: err.Error()})
	}
	for _, b := range cc.Registers {
		p, err := prog.Procedure(b.Handler)
		if err != nil {
			at(b, err)
			continue
		}
		g.procs[bindingKey(b)] = p
	}
	for _, b := range cc.Subscribes {
		h, err := prog.EventHandler(b.Handler)
		if err != nil {
			at(b, err)
			continue
		}
		g.events[bindingKey(b)] = h
	}
	var err error
	if g.onJoin, err = prog.OnJoin(); err != nil {
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: prog.FuncPos("OnJoin"), Summary: "bad OnJoin", Detail: err.Error()})
	}
	if g.onLeave, err = prog.OnLeave(); err != nil {
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: prog.FuncPos("OnLeave"), Summary: "bad OnLeave", Detail: err.Error()})
	}
	if ds.HasErrors() {
		return nil, ds
	}
	if extra := widened(cc.AllowImports); len(extra) > 0 {
		log.Warn("script allow-list widened", "imports", extra)
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g, ds
}

func widened(extra []string) []string {
	def := map[string]bool{}
	for _, p := range interp.DefaultImports {
		def[p] = true
	}
	var out []string
	for _, p := range extra {
		if !def[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// retire ends the generation for good: handler contexts end, and the
// interpreter is stopped so that any script loop still running (one that
// ignores its context) ends and the interpreter can be freed.
func (g *generation) retire() {
	if g.cancel != nil {
		g.cancel()
		g.lanes.retire()
		// Handlers that watch their context get to return (and run their
		// defers) before the interpreter stops under them.
		waitTimeout(&g.calls, overrunGrace)
	}
	g.prog.Stop()
}

// halt marks the generation's results untrustworthy and stops its
// interpreter at once, whatever is still running in it.
func (g *generation) halt() {
	g.halted.Store(true)
	g.prog.Stop()
}

// lifecycleTimeout bounds OnJoin and OnLeave: script code the host waits
// for must not be able to hang a start, a reload or a shutdown.
const lifecycleTimeout = 30 * time.Second

// errOverran is what a lifecycle function that ignored its deadline gives.
var errOverran = errors.New("did not return before its deadline (it ignores its context?)")

// guarded runs script code under a deadline, returning errOverran if it is
// still running afterwards (it keeps running until its interpreter stops).
func guarded(parent context.Context, d time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-errc:
		return err
	case <-time.After(overrunGrace):
		return errOverran
	}
}

// join runs OnJoin under a fresh epoch.
func (g *generation) join(c *component) error {
	ctx, cancel := context.WithCancel(g.ctx)
	ep := &epoch{ctx: ctx, cancel: cancel}
	g.bg = ep
	if g.onJoin == nil {
		return nil
	}
	s := &session{c: c, g: g, ep: ep}
	err := guarded(context.Background(), lifecycleTimeout, func(context.Context) error { return g.onJoin(ctx, s) })
	if err != nil {
		c.h.metrics.countLifecycleError(c.name, "OnJoin", err)
		g.endEpoch(c, false)
		return err
	}
	return nil
}

// endEpoch runs OnLeave and ends the epoch: its helpers stop and its run-time
// registrations and subscriptions go.
func (g *generation) endEpoch(c *component, runOnLeave bool) {
	ep := g.bg
	if ep == nil {
		return
	}
	g.bg = nil
	if runOnLeave && g.onLeave != nil {
		s := &session{c: c, g: g, ep: ep}
		if err := guarded(context.Background(), 5*time.Second, func(ctx context.Context) error { return g.onLeave(ctx, s) }); err != nil {
			c.h.metrics.countLifecycleError(c.name, "OnLeave", err)
			g.log.Error("OnLeave failed", "error", err)
		}
	}
	ep.cancel()
	ep.mu.Lock()
	regs, subs := ep.regs, ep.subs
	ep.mu.Unlock()
	for _, uri := range regs {
		_ = c.link.Load().unregister(uri)
	}
	for _, sub := range subs {
		_ = c.link.Load().unsubscribe(sub.topic)
		sub.queue.stop()
	}
	if !waitTimeout(&ep.helpers, 5*time.Second) {
		g.log.Warn("background goroutines did not stop within 5s of their context ending; they keep the old code alive")
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// waitCtx waits for wg until ctx ends, reporting whether wg finished.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// component is one component block at run time: its WAMP session and the
// generation of code currently serving its bindings.
type component struct {
	h    *Host
	name string // the component block's label, which never changes
	// cfg is the component block serving now: a reload swaps it (under
	// life and swap) while calls read it.
	cfg atomic.Pointer[loader.Component]
	log hclog.Logger

	// link is the current session; reconnect.go swaps it when a lost
	// connection to an external router is rebuilt.
	link atomic.Pointer[link]
	// life serialises what changes the session's bindings: start, reload,
	// rejoin after a reconnect and stop.
	life sync.Mutex
	sup  *supervisor // nil on the embedded router

	// swap guards gen: calls take the read lock just long enough to join
	// the current generation's WaitGroup.
	swap sync.RWMutex
	gen  *generation

	routes map[string]*route // by binding key
}

func newComponent(h *Host, cc *loader.Component) *component {
	c := &component{h: h, name: cc.Name, log: h.componentLog(cc.Name), routes: map[string]*route{}}
	c.cfg.Store(cc)
	return c
}

// config is the component block serving now.
func (c *component) config() *loader.Component { return c.cfg.Load() }

// acquire returns the serving generation, counted as busy until leave.
// It returns nil only while the component stops.
func (c *component) acquire() *generation {
	c.swap.RLock()
	defer c.swap.RUnlock()
	if g := c.gen; g.enter() {
		return g
	}
	return nil
}

func (c *component) current() *generation {
	c.swap.RLock()
	defer c.swap.RUnlock()
	return c.gen
}

func (c *component) start(ctx context.Context, g *generation) error {
	c.life.Lock()
	defer c.life.Unlock()
	// The supervisor exists before any script runs: it answers what a
	// disconnected session's calls fail with.
	c.sup = c.newSupervisor()
	l, err := c.dial(ctx)
	c.gen = g
	if err != nil {
		if c.joinLater(err) {
			return nil
		}
		return err
	}
	c.link.Store(l)
	cl := l.client
	// OnJoin runs before the declared bindings go live, so that state it
	// sets up (a logger, a cache) is there for the first call.
	if err := g.join(c); err != nil {
		_ = cl.Close()
		return fmt.Errorf("OnJoin: %w", err)
	}
	for _, b := range c.config().Bindings() {
		if err := c.bind(b); err != nil {
			g.endEpoch(c, true)
			_ = cl.Close()
			return err
		}
	}
	c.log.Info("joined", "realm", c.config().Realm, "router", routerName(c.config()), "session", uint64(cl.ID()), "registrations", len(c.config().Registers), "subscriptions", len(c.config().Subscribes))
	c.supervise(l)
	return nil
}

func (c *component) bind(b *loader.Binding) error {
	if b.Kind == loader.Register {
		return c.register(b)
	}
	return c.subscribe(b)
}

func (c *component) unbind(b *loader.Binding) error {
	if b.Kind == loader.Register {
		return c.link.Load().unregister(b.URI)
	}
	err := c.link.Load().unsubscribe(b.URI)
	if r, ok := c.routes[bindingKey(b)]; ok {
		r.queue.stop()
		c.h.metrics.queueDepth.DeleteLabelValues(c.name, r.uri)
		delete(c.routes, bindingKey(b))
	}
	return err
}

func (c *component) register(b *loader.Binding) error {
	opts := nxwamp.Dict{nxwamp.OptMatch: b.Match, nxwamp.OptInvoke: b.Invoke}
	if b.DiscloseCaller {
		opts[nxwamp.OptDiscloseCaller] = true
	}
	r := c.newRoute(b)
	l := c.link.Load()
	err := l.register(b.URI, func(cc *callCtx, inv *nxwamp.Invocation) client.InvokeResult {
		g := c.acquire()
		if g == nil {
			return errorResult(wamp.ErrUnavailable, "component "+c.name+" is stopping")
		}
		defer g.leave()
		return c.dispatchCall(cc, g, r, g.procs[r.key], inv)
	}, opts)
	if err != nil {
		return fmt.Errorf("register %s: %w", b.URI, err)
	}
	c.routes[r.key] = r
	return nil
}

func (c *component) subscribe(b *loader.Binding) error {
	r := c.newRoute(b)
	r.queue = newEventQueue(c.config().EventQueue)
	r.queue.start(func(ev *nxwamp.Event) bool {
		g := c.acquire()
		if g == nil {
			return true
		}
		defer g.leave()
		r.depth.Set(float64(r.queue.depth()))
		return c.dispatchEvent(g, r, g.events[r.key], ev)
	})
	opts := nxwamp.Dict{nxwamp.OptMatch: b.Match}
	if err := c.link.Load().subscribe(b.URI, func(ev *nxwamp.Event) {
		r.depth.Set(float64(r.queue.depth()))
		if !r.queue.offer(ev) {
			r.dropped.Inc()
			c.log.Warn("event queue full: event dropped", "topic", r.uri, "queue", r.queue.capacity(), "dropped_total", r.queue.dropped.Load())
		}
	}, opts); err != nil {
		r.queue.stop()
		return fmt.Errorf("subscribe %s: %w", b.URI, err)
	}
	c.routes[r.key] = r
	return nil
}

// replace swaps a new generation in without dropping a call: OnLeave ends
// the old background work, the new OnJoin starts it again on the new code,
// the handlers behind every unchanged registration are swapped atomically,
// URIs that appear are bound before URIs that disappear are unbound, and the
// old generation retires once its calls have drained. If the new OnJoin
// fails, the old generation resumes as it was.
func (c *component) replace(next *generation) error {
	c.life.Lock()
	defer c.life.Unlock()
	prev := c.current()
	if !c.linkUp() {
		// Disconnected: the rejoin runs the new OnJoin and binds the new
		// config's URIs.
		c.swapDown(prev, next)
		return nil
	}
	prev.endEpoch(c, true)
	if err := next.join(c); err != nil {
		if rerr := prev.join(c); rerr != nil {
			c.log.Error("OnJoin of the running code failed again after a failed reload", "error", rerr)
		}
		next.retire()
		return fmt.Errorf("OnJoin: %w", err)
	}
	c.swap.Lock()
	c.gen = next
	oldCfg := c.config()
	c.cfg.Store(next.cfg)
	c.swap.Unlock()

	oldKeys := map[string]*loader.Binding{}
	for _, b := range oldCfg.Bindings() {
		oldKeys[bindingKey(b)] = b
	}
	var errs []error
	for _, b := range next.cfg.Bindings() {
		k := bindingKey(b)
		old, kept := oldKeys[k]
		if kept && sameOptions(old, b) {
			if r := c.routes[k]; r != nil && old.Concurrency != b.Concurrency {
				r.setConcurrency(b.Concurrency)
			}
			delete(oldKeys, k)
			continue
		}
		if kept {
			// Options changed: the router needs a new registration.
			if err := c.unbind(old); err != nil {
				errs = append(errs, err)
			}
			delete(oldKeys, k)
		}
		if err := c.bind(b); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range oldKeys {
		if err := c.unbind(b); err != nil {
			errs = append(errs, fmt.Errorf("unbind %s: %w", b.URI, err))
		}
	}
	if oldCfg.EventQueue != next.cfg.EventQueue {
		for _, r := range c.routes {
			if r.queue != nil {
				r.queue.resize(next.cfg.EventQueue)
			}
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		if !prev.drain(ctx) {
			c.log.Warn("old code still had calls running after the drain timeout", "timeout", drainTimeout)
		}
		prev.retire()
	}()
	return errors.Join(errs...)
}

// sameOptions says whether the router registration can stay as it is: the
// router keeps only these options. A timeout is read per call from the
// serving generation, and a concurrency limit is changed in the route.
func sameOptions(a, b *loader.Binding) bool {
	return a.Match == b.Match && a.Invoke == b.Invoke && a.DiscloseCaller == b.DiscloseCaller
}

// stop lets calls in flight finish (until ctx ends), runs OnLeave, stops
// background work and leaves the realm.
func (c *component) stop(ctx context.Context) error {
	g := c.current()
	if g == nil {
		return nil
	}
	c.stopSupervisor()
	if c.gaveUp() {
		c.h.clearGaveUp(c.name)
	}
	c.life.Lock()
	defer c.life.Unlock()
	l := c.link.Load()
	if !g.drain(ctx) || (l != nil && !l.peer.wait(ctx)) {
		c.log.Warn("grace period over: leaving with calls still running")
	}
	g.endEpoch(c, true)
	g.retire()
	for _, r := range c.routes {
		if r.queue != nil {
			r.queue.stop()
			c.h.metrics.queueDepth.DeleteLabelValues(c.name, r.uri)
		}
	}
	if l != nil {
		return l.close()
	}
	return nil
}
