package host

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/interp"
	"github.com/wamphost/wamphost/wamp"
)

// dispatchCall runs one INVOCATION on the generation's handler and turns
// whatever happens, a result, an error or a panic, into a WAMP answer. The
// caller always gets an answer with a meaningful URI.
func (c *component) dispatchCall(ctx context.Context, g *generation, proc interp.Procedure, uri string, inv *nxwamp.Invocation) (res client.InvokeResult) {
	if c.h.stopping.Load() {
		return errorResult(wamp.ErrUnavailable, "wamphost is shutting down")
	}
	if proc == nil {
		return errorResult(wamp.ErrNoSuchProcedure, "no handler bound for "+uri)
	}
	call := toInvocation(inv, uri)
	if want, _ := inv.Details[nxwamp.OptReceiveProgress].(bool); want {
		progressCtx := ctx
		call = wamp.NewInvocation(call.Procedure, call.Args, call.Kwargs, func(args []any, kwargs map[string]any) error {
			a, k, err := normalize(args, kwargs)
			if err != nil {
				return err
			}
			return c.client.SendProgress(progressCtx, a, k)
		})
		fillInvocation(call, inv, uri)
	}
	// The handler's context also ends when this code retires for good.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(g.ctx, cancel)
	defer stop()

	out, err := proc(ctx, call)
	if err != nil {
		return c.callError(ctx, call.Procedure, err)
	}
	args, kwargs, err := normalize(out.Args, out.Kwargs)
	if err != nil {
		return c.callError(ctx, call.Procedure, err)
	}
	return client.InvokeResult{Args: args, Kwargs: kwargs}
}

func toInvocation(inv *nxwamp.Invocation, uri string) *wamp.Invocation {
	call := &wamp.Invocation{}
	fillInvocation(call, inv, uri)
	return call
}

func fillInvocation(call *wamp.Invocation, inv *nxwamp.Invocation, uri string) {
	call.Procedure = uri
	if p, ok := inv.Details[nxwamp.OptProcedure].(string); ok && p != "" {
		call.Procedure = p
	}
	call.Args = inv.Arguments
	call.Kwargs = inv.ArgumentsKw
	call.Details = inv.Details
	if id, ok := nxwamp.AsID(inv.Details["caller"]); ok {
		call.Caller = uint64(id)
	}
	call.CallerAuthID, _ = inv.Details["caller_authid"].(string)
	call.CallerAuthRole, _ = inv.Details["caller_authrole"].(string)
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
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		if errors.Is(err, context.DeadlineExceeded) {
			return errorResult(wamp.ErrTimeout, err.Error())
		}
		return errorResult(wamp.ErrCanceled, err.Error())
	}
	return errorResult(wamp.ErrRuntimeError, err.Error())
}

func errorResult(uri, msg string) client.InvokeResult {
	return client.InvokeResult{Err: nxwamp.URI(uri), Args: nxwamp.List{msg}}
}

// normalize turns script-made payload values into plain WAMP values.
func normalize(args []any, kwargs map[string]any) (nxwamp.List, nxwamp.Dict, error) {
	var list nxwamp.List
	var dict nxwamp.Dict
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
	return list, dict, nil
}

// dispatchEvent delivers one event; errors and panics are logged, since an
// event has no one to answer.
func (c *component) dispatchEvent(g *generation, handler interp.EventHandler, uri string, ev *nxwamp.Event) {
	if handler == nil {
		return
	}
	e := &wamp.Event{Topic: uri, Args: ev.Arguments, Kwargs: ev.ArgumentsKw, Details: ev.Details}
	if t, ok := ev.Details["topic"].(string); ok && t != "" {
		e.Topic = t
	}
	if id, ok := nxwamp.AsID(ev.Details["publisher"]); ok {
		e.Publisher = uint64(id)
	}
	err := handler(g.ctx, e)
	var panicErr *interp.PanicError
	switch {
	case err == nil:
	case errors.As(err, &panicErr):
		c.log.Error("event handler panicked", "topic", e.Topic, "pos", panicErr.Pos.String(), "panic", fmt.Sprint(panicErr.Value))
	default:
		c.log.Error("event handler failed", "topic", e.Topic, "error", safeError(err))
	}
}

func safeError(err error) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("(error value panicked: %v)", r)
		}
	}()
	return err.Error()
}
