package interp

import (
	"context"
	"errors"
	"reflect"

	yaegi "github.com/traefik/yaegi/interp"

	"github.com/wamphost/wamphost/wamp"
)

// Session.Publish and Session.Call are what handlers call all the time. By
// default yaegi calls a method of a Go interface value through
// reflect.Value.Call, which for these variadic methods cost as much as the
// publish itself (docs/benchmarks.md, fan-out); these adapters call them
// on the receiver (a yaegi patch, RegisterMethodAdapter). They take and
// give what reflect.Value.Call would.
func init() {
	sessionType := reflect.TypeOf((*wamp.Session)(nil)).Elem()
	yaegi.RegisterMethodAdapter(sessionType, "Publish", func(rcvr reflect.Value, in []reflect.Value) []reflect.Value {
		if err := sessionOf(rcvr).Publish(in[0].String(), variadic(in[1:])...); err != nil {
			return []reflect.Value{reflect.ValueOf(&err).Elem()}
		}
		return noError
	})
	yaegi.RegisterMethodAdapter(sessionType, "Call", func(rcvr reflect.Value, in []reflect.Value) []reflect.Value {
		ctx, _ := in[0].Interface().(context.Context)
		res, err := sessionOf(rcvr).Call(ctx, in[1].String(), variadic(in[2:])...)
		return []reflect.Value{reflect.ValueOf(res), reflect.ValueOf(&err).Elem()}
	})
}

// noError is what a method returning only a nil error gives. yaegi copies
// results out of the slice and never writes to it, so one slice serves
// every call (two allocations fewer per publish).
var noError = []reflect.Value{reflect.Zero(reflect.TypeOf((*error)(nil)).Elem())}

// errNilSession is what calling a method of a nil wamp.Session panics
// with, as the method call would panic without the adapter.
var errNilSession = errors.New("runtime error: invalid memory address or nil pointer dereference (a method called on a nil wamp.Session)")

func sessionOf(rcvr reflect.Value) wamp.Session {
	s, ok := rcvr.Interface().(wamp.Session)
	if !ok || s == nil {
		panic(errNilSession)
	}
	return s
}

// variadic is what reflect.Value.Call would pass as a ...any parameter.
func variadic(in []reflect.Value) []any {
	if len(in) == 0 {
		return nil
	}
	args := make([]any, len(in))
	for i, v := range in {
		args[i] = v.Interface()
	}
	return args
}
