package wamp

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Invocation is one call of a procedure, as a full-form handler receives it.
type Invocation struct {
	// Procedure is the URI the caller called. For prefix and wildcard
	// registrations it is the concrete URI, not the pattern.
	Procedure string
	// Args and Kwargs are the call's positional and keyword arguments.
	Args   []any
	Kwargs map[string]any
	// Caller is the caller's session ID, or 0 when the caller was not
	// disclosed (see disclose_caller in components.hcl).
	Caller         uint64
	CallerAuthID   string
	CallerAuthRole string
	// Details holds the INVOCATION details exactly as the router sent them.
	Details map[string]any

	progress func(args []any, kwargs map[string]any) error
}

// NewInvocation returns an Invocation whose Progress calls send. wamphost
// builds invocations this way; handler tests use it to capture progress.
func NewInvocation(procedure string, args []any, kwargs map[string]any, send func(args []any, kwargs map[string]any) error) *Invocation {
	return &Invocation{Procedure: procedure, Args: args, Kwargs: kwargs, progress: send}
}

// Progress sends a progressive result to the caller ahead of the final one.
// It returns ErrNoProgress when the caller did not ask for progressive
// results, so handlers can call it unconditionally and ignore that error.
func (inv *Invocation) Progress(args ...any) error {
	if inv == nil || inv.progress == nil {
		return ErrNoProgress
	}
	return inv.progress(args, nil)
}

// WantsProgress reports whether the caller asked for progressive results.
func (inv *Invocation) WantsProgress() bool { return inv != nil && inv.progress != nil }

// ErrNoProgress is returned by Invocation.Progress when the caller did not
// ask for progressive results.
var ErrNoProgress = errors.New("wamp: caller did not ask for progressive results")

// Event is one publication received on a subscription.
type Event struct {
	// Topic is the topic the event was published to. For prefix and wildcard
	// subscriptions it is the concrete topic, not the pattern.
	Topic  string
	Args   []any
	Kwargs map[string]any
	// Publisher is the publisher's session ID, or 0 when not disclosed.
	Publisher uint64
	// Details holds the EVENT details exactly as the router sent them.
	Details map[string]any
}

// Result is what a call returns: positional and keyword results. A handler
// that returns a Result (or *Result) controls both lists exactly; any other
// return values become the positional results.
type Result struct {
	Args   []any
	Kwargs map[string]any
}

// Arg returns positional result i, or nil when there is none.
func (r *Result) Arg(i int) any {
	if r == nil || i < 0 || i >= len(r.Args) {
		return nil
	}
	return r.Args[i]
}

// Error is a WAMP application error: the Go counterpart of Autobahn's
// ApplicationError. Returned from a handler, it reaches the caller with
// exactly this URI, Args and Kwargs. Returned from Session.Call, it carries
// what the callee (or the router) answered.
type Error struct {
	URI    string
	Args   []any
	Kwargs map[string]any
}

// NewError returns an application error with the given URI and positional
// arguments, like Autobahn's ApplicationError(uri, *args).
func NewError(uri string, args ...any) *Error {
	return &Error{URI: uri, Args: args}
}

// WithKwargs returns e with its keyword arguments set to kwargs.
func (e *Error) WithKwargs(kwargs map[string]any) *Error {
	e.Kwargs = kwargs
	return e
}

// Error reads "URI: arg1, arg2", like nexus and Autobahn print errors.
func (e *Error) Error() string {
	if len(e.Args) == 0 {
		return e.URI
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = fmt.Sprint(a)
	}
	return e.URI + ": " + strings.Join(parts, ", ")
}

// AsError returns the *Error in err's chain, if there is one. Scripts use it
// instead of errors.As, which the interpreter cannot run on every type.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// ErrorURI returns the URI of the *Error in err's chain, or "" when there is
// none.
func ErrorURI(err error) string {
	if e, ok := AsError(err); ok {
		return e.URI
	}
	return ""
}

// URIs of the errors defined by the WAMP specification that handlers and
// callers meet most often.
const (
	ErrInvalidArgument  = "wamp.error.invalid_argument"
	ErrRuntimeError     = "wamp.error.runtime_error"
	ErrNoSuchProcedure  = "wamp.error.no_such_procedure"
	ErrCanceled         = "wamp.error.canceled"
	ErrTimeout          = "wamp.error.timeout"
	ErrNotAuthorized    = "wamp.error.not_authorized"
	ErrUnavailable      = "wamp.error.unavailable"
	ErrNetworkFailure   = "wamp.error.network_failure"
	ErrNoEligibleCallee = "wamp.error.no_eligible_callee"
)

// Session is a component's connection to its realm, as OnJoin receives it.
// It is safe for concurrent use and stays valid across reconnects; calls made
// while the router is unreachable fail at once with ErrUnavailable.
type Session interface {
	// ID is the current WAMP session ID.
	ID() uint64
	// Realm is the realm the session joined.
	Realm() string

	// Call calls a procedure with positional arguments.
	Call(ctx context.Context, procedure string, args ...any) (*Result, error)
	// CallWith calls a procedure with keyword arguments and options.
	CallWith(ctx context.Context, procedure string, args []any, kwargs map[string]any, opts CallOptions) (*Result, error)

	// Publish publishes an event with positional arguments.
	Publish(topic string, args ...any) error
	// PublishWith publishes with keyword arguments and options. With
	// Acknowledge set it waits for the router's answer.
	PublishWith(ctx context.Context, topic string, args []any, kwargs map[string]any, opts PublishOptions) error

	// Register binds handler (any handler form) to procedure for as long as
	// the component runs. Bindings made here are not restored by a reload:
	// OnJoin runs again and makes them anew.
	Register(procedure string, handler any, opts RegisterOptions) error
	// Unregister removes a registration made with Register.
	Unregister(procedure string) error
	// Subscribe binds handler (any event handler form) to topic.
	Subscribe(topic string, handler any, opts SubscribeOptions) error
	// Unsubscribe removes a subscription made with Subscribe.
	Unsubscribe(topic string) error

	// Go runs fn in a goroutine owned by the component: fn's ctx ends when
	// the component stops or reloads, and a panic in fn is logged rather
	// than crashing the daemon. Scripts use it instead of a go statement.
	Go(fn func(ctx context.Context))

	// Log is the component's named logger.
	Log() Logger

	// Config decodes the component's `config` block from components.hcl
	// into v (a pointer to a struct with json tags, or to a map).
	Config(v any) error
}

// Logger writes structured log lines under the component's name.
// kv alternates keys and values: Info("counted", "n", 3).
type Logger interface {
	Debug(msg string, kv ...any)
	Info(msg string, kv ...any)
	Warn(msg string, kv ...any)
	Error(msg string, kv ...any)
}
