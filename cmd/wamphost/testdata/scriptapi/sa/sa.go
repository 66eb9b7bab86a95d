// Package sa exercises the whole script API through a real router: the
// scriptapi e2e tests call these handlers with real clients.
package sa

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var (
	session wamp.Session
	log     wamp.Logger
)

// OnJoin keeps the session for calls and publications made from handlers.
func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	log = s.Log()
	log.Info("sa joined", "session", s.ID(), "realm", s.Realm())
	// Run-time bindings, like Autobahn's self.register in onJoin.
	if err := s.Register("com.sa.dyn.", Whoami, wamp.RegisterOptions{Match: "prefix", DiscloseCaller: true}); err != nil {
		return err
	}
	return s.Subscribe("com.sa.dynev", OnEvent, wamp.SubscribeOptions{})
}

// SessionID is this component's WAMP session ID.
func SessionID() uint64 { return session.ID() }

// OnLeave is logged so that the tests see the lifecycle.
func OnLeave(ctx context.Context, s wamp.Session) {
	s.Log().Info("sa leaving")
}

// Add is the callee the proxy calls.
func Add(x, y int) int { return x + y }

// Divide fails like an Autobahn ApplicationError with args and kwargs.
func Divide(x, y float64) (float64, error) {
	if y == 0 {
		return 0, wamp.NewError("com.sa.error.div_by_zero", "division by zero", x).WithKwargs(map[string]any{"dividend": x})
	}
	return x / y, nil
}

// callRequest is what the proxy is asked to call.
type callRequest struct {
	Procedure string         `json:"procedure"`
	Args      []any          `json:"args"`
	Kwargs    map[string]any `json:"kwargs"`
	TimeoutMs int            `json:"timeout_ms"`
	Disclose  bool           `json:"disclose_me"`
	Progress  bool           `json:"progress"`
}

// Proxy calls a procedure from inside a handler with the options it is
// given and reports what came back, errors included, as a plain result, so
// the test sees exactly what the script saw.
func Proxy(ctx context.Context, req callRequest) (map[string]any, error) {
	var mu sync.Mutex
	progress := []any{}
	opts := wamp.CallOptions{Timeout: time.Duration(req.TimeoutMs) * time.Millisecond, DiscloseMe: req.Disclose}
	if req.Progress {
		opts.OnProgress = func(r *wamp.Result) {
			mu.Lock()
			progress = append(progress, r.Arg(0))
			mu.Unlock()
		}
	}
	res, err := session.CallWith(ctx, req.Procedure, req.Args, req.Kwargs, opts)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		we, ok := wamp.AsError(err)
		out := map[string]any{"as_error": ok, "error_uri": wamp.ErrorURI(err), "message": err.Error()}
		if ok {
			out["error_args"] = we.Args
			out["error_kwargs"] = we.Kwargs
		}
		// Wrapped with %w, the error still yields its URI.
		out["wrapped_uri"] = wamp.ErrorURI(fmt.Errorf("proxy: %w", err))
		// errors.As works in scripts when the target is the host's *wamp.Error.
		var target *wamp.Error
		out["errors_as"] = errors.As(err, &target) && target.URI == out["error_uri"]
		// A wrapper type defined in the script hides its Unwrap method from
		// the host (a yaegi limit): report what ErrorURI sees through it.
		out["script_wrapper_uri"] = wamp.ErrorURI(wrap(err))
		return out, nil
	}
	return map[string]any{"args": res.Args, "kwargs": res.Kwargs, "progress": progress}, nil
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrap(err error) error { return wrapped{err} }

// Progressive sends n progressive results, then the final one.
func Progressive(ctx context.Context, inv *wamp.Invocation) (wamp.Result, error) {
	n := 0
	if len(inv.Args) > 0 {
		f, _ := inv.Args[0].(float64)
		i, isInt := inv.Args[0].(int64)
		n = int(f)
		if isInt {
			n = int(i)
		}
		u, isUint := inv.Args[0].(uint64)
		if isUint {
			n = int(u)
		}
	}
	sent := 0
	for i := 0; i < n; i++ {
		err := inv.Progress(i)
		if errors.Is(err, wamp.ErrNoProgress) {
			continue
		}
		if err != nil {
			return wamp.Result{}, err
		}
		sent++
	}
	return wamp.Result{Args: []any{n}, Kwargs: map[string]any{"wanted": inv.WantsProgress(), "sent": sent}}, nil
}

// Wait blocks until its context ends (or ms pass) and logs why it ended.
func Wait(ctx context.Context, tag string, ms int) (string, error) {
	log.Info("wait started", "tag", tag)
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		log.Info("wait finished", "tag", tag)
		return "finished", nil
	case <-ctx.Done():
		log.Info("wait ended", "tag", tag, "cause", ctx.Err().Error())
		return "", ctx.Err()
	}
}

// Whoami reports the invocation details the handler sees.
func Whoami(inv *wamp.Invocation) map[string]any {
	return map[string]any{
		"procedure": inv.Procedure,
		"caller":    inv.Caller,
		"authid":    inv.CallerAuthID,
		"authrole":  inv.CallerAuthRole,
	}
}

// publishRequest is what Publish is asked to publish.
type publishRequest struct {
	Topic   string              `json:"topic"`
	Args    []any               `json:"args"`
	Kwargs  map[string]any      `json:"kwargs"`
	Options wamp.PublishOptions `json:"options"`
}

// Publish publishes with the given options; with acknowledge set, a
// router refusal comes back as the call's error.
func Publish(ctx context.Context, req publishRequest) error {
	return session.PublishWith(ctx, req.Topic, req.Args, req.Kwargs, req.Options)
}

var (
	evMu   sync.Mutex
	events []map[string]any
)

// OnEvent records every event on com.sa.ev.* (a prefix subscription).
func OnEvent(ev *wamp.Event) {
	evMu.Lock()
	defer evMu.Unlock()
	events = append(events, map[string]any{"topic": ev.Topic, "args": ev.Args, "kwargs": ev.Kwargs, "publisher": ev.Publisher})
}

// Events returns and forgets the recorded events.
func Events() []map[string]any {
	evMu.Lock()
	defer evMu.Unlock()
	out := events
	events = nil
	if out == nil {
		out = []map[string]any{}
	}
	return out
}

// settings is the component's config block, typed.
type settings struct {
	Greeting string            `json:"greeting"`
	Limit    int               `json:"limit"`
	Ratio    float64           `json:"ratio"`
	Enabled  bool              `json:"enabled"`
	Tags     []string          `json:"tags"`
	Backend  backend           `json:"backend"`
	Labels   map[string]string `json:"labels"`
}

type backend struct {
	URL     string `json:"url"`
	Retries int    `json:"retries"`
}

// Settings returns the config decoded into a struct and into a map.
func Settings() (settings, map[string]any, error) {
	var s settings
	if err := session.Config(&s); err != nil {
		return settings{}, nil, err
	}
	var m map[string]any
	if err := session.Config(&m); err != nil {
		return settings{}, nil, err
	}
	return s, m, nil
}

// Log writes one line at each level with key/value pairs.
func Log(msg string, n int) {
	log.Debug(msg, "level", "debug", "n", n)
	log.Info(msg, "level", "info", "n", n)
	log.Warn(msg, "level", "warn", "n", n)
	log.Error(msg, "level", "error", "n", n)
}
