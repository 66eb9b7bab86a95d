package interp

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/wamp"
)

func TestBindArguments(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/bind"})
	const bad = wamp.ErrInvalidArgument
	for _, tc := range []struct {
		name   string
		fn     string
		args   []any
		kwargs map[string]any
		want   []any
		uri    string
		errHas string
	}{
		{name: "positional", fn: "Add2", args: []any{int64(2), uint64(3)}, want: []any{int64(5)}},
		{name: "whole floats", fn: "Add2", args: []any{2.0, 3.0}, want: []any{int64(5)}},
		{name: "by name", fn: "Add2", kwargs: map[string]any{"y": int64(3), "x": int64(2)}, want: []any{int64(5)}},
		{name: "mixed", fn: "Add2", args: []any{int64(2)}, kwargs: map[string]any{"y": int64(3)}, want: []any{int64(5)}},
		{name: "too many", fn: "Add2", args: []any{1, 2, 3}, uri: bad, errHas: "Add2(x int, y int) takes 2 arguments, got 3"},
		{name: "missing", fn: "Add2", args: []any{1}, uri: bad, errHas: "Add2(x int, y int): missing argument y int"},
		{name: "missing all", fn: "Add2", uri: bad, errHas: "missing argument x int"},
		{name: "unexpected kwarg", fn: "Add2", args: []any{1, 2}, kwargs: map[string]any{"z": 1}, uri: bad, errHas: `Add2(x int, y int): unexpected keyword argument "z"`},
		{name: "positional and keyword both", fn: "Add2", args: []any{1, 2}, kwargs: map[string]any{"x": 1}, uri: bad, errHas: `unexpected keyword argument "x"`},
		{name: "wrong type", fn: "Add2", args: []any{"two", 3}, uri: bad, errHas: `Add2(x int, y int): argument x: want int, got string "two"`},
		{name: "fraction", fn: "Add2", args: []any{1, 2.5}, uri: bad, errHas: "argument y: want int, got float64 2.5"},
		{name: "null", fn: "Add2", args: []any{nil, 1}, uri: bad, errHas: "argument x: want int, got null"},
		{name: "variadic none", fn: "Sum", want: []any{int64(0)}},
		{name: "variadic", fn: "Sum", args: []any{1, 2, 3}, want: []any{int64(6)}},
		{name: "variadic bad", fn: "Sum", args: []any{1, "x"}, uri: bad, errHas: `Sum(xs ...int): argument xs[1]: want int, got string "x"`},
		{name: "variadic after fixed", fn: "Join", args: []any{"-", "a", "b"}, want: []any{"a-b"}},
		{name: "variadic fixed by name", fn: "Join", kwargs: map[string]any{"sep": "+"}, want: []any{""}},
		{name: "struct from kwargs", fn: "Greet", args: []any{"hi"}, kwargs: map[string]any{"name": "Ann", "age": 3}, want: []any{"hi Ann"}},
		{name: "struct positional", fn: "Greet", args: []any{"hi", map[string]any{"name": "Bo"}}, want: []any{"hi Bo"}},
		{name: "struct by its name", fn: "Greet", args: []any{"hi"}, kwargs: map[string]any{"p": map[string]any{"name": "Cy"}}, want: []any{"hi Cy"}},
		{name: "struct bad field", fn: "Greet", args: []any{"hi"}, kwargs: map[string]any{"name": 5}, uri: bad, errHas: "argument p: name: want string, got int 5"},
		{name: "struct in, struct out", fn: "Older", kwargs: map[string]any{"name": "Di", "age": 40}, want: []any{map[string]any{"name": "Di", "age": int64(41)}}},
		{name: "struct empty kwargs", fn: "Older", want: []any{map[string]any{"name": "", "age": int64(1)}}},
		{name: "no results", fn: "Nothing", want: []any{}},
		{name: "nil error only", fn: "NothingOrError", args: []any{false}, want: []any{}},
		{name: "several results", fn: "Pair", want: []any{int64(1), "one"}},
		{name: "any passes through", fn: "Anything", args: []any{[]any{int64(1), map[string]any{"a": nil}}}, want: []any{[]any{int64(1), map[string]any{"a": nil}}}},
		{name: "bad result value", fn: "BadValue", uri: wamp.ErrRuntimeError, errHas: "BadValue: result 1: a chan cannot be sent over WAMP"},
		{name: "bad wamp.Result", fn: "BadRes", uri: wamp.ErrRuntimeError, errHas: "result args: [0]: a chan cannot be sent over WAMP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := callProc(t, p, tc.fn, tc.args, tc.kwargs)
			if tc.uri != "" {
				wantWAMPError(t, err, tc.uri, tc.errHas)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.fn, err)
			}
			if !reflect.DeepEqual(res.Args, tc.want) || res.Kwargs != nil {
				t.Errorf("%s = %#v / %#v, want %#v", tc.fn, res.Args, res.Kwargs, tc.want)
			}
		})
	}
}

func TestBindResults(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/bind"})
	res, err := callProc(t, p, "Res", nil, nil)
	if err != nil || !reflect.DeepEqual(res, &wamp.Result{Args: []any{int64(1), "a"}, Kwargs: map[string]any{"k": map[string]any{"name": "n"}}}) {
		t.Errorf("Res = %#v, %v", res, err)
	}
	res, err = callProc(t, p, "ResPtr", nil, nil)
	if err != nil || !reflect.DeepEqual(res, &wamp.Result{Kwargs: map[string]any{"only": true}}) {
		t.Errorf("ResPtr = %#v, %v", res, err)
	}
	res, err = callProc(t, p, "ResNil", nil, nil)
	if err != nil || !reflect.DeepEqual(res, &wamp.Result{}) {
		t.Errorf("ResNil = %#v, %v", res, err)
	}
	// A *wamp.Error reaches the caller as the script made it.
	_, err = callProc(t, p, "Fails", nil, nil)
	var we *wamp.Error
	if !errors.As(err, &we) || we.URI != "com.example.not_found" || !reflect.DeepEqual(we.Args, []any{"no such thing"}) || we.Kwargs["id"] != 3 {
		t.Errorf("Fails error = %#v", err)
	}
	// Any other error comes back as it is, for the host to wrap.
	_, err = callProc(t, p, "NothingOrError", []any{true}, nil)
	if err == nil || err.Error() != "plain failure" {
		t.Errorf("NothingOrError(true) = %v", err)
	}
	if errors.As(err, &we) {
		t.Errorf("a plain error became a *wamp.Error: %v", we)
	}
	// The full form sees the call as it arrived.
	res, err = callProc(t, p, "Full", []any{1, 2}, map[string]any{"k": "v"})
	if err != nil || !reflect.DeepEqual(res.Args, []any{"test.Full", int64(2), "v"}) {
		t.Errorf("Full = %#v, %v", res, err)
	}
	// The context reaches the script.
	h, err := p.Procedure("HasDeadline")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	if res, err := h(ctx, &wamp.Invocation{}); err != nil || res.Args[0] != true {
		t.Errorf("HasDeadline = %v, %v", res, err)
	}
}

func TestBindPanics(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/bind"})
	file := abs(t, "testdata/bind/bind.go")
	_, err := callProc(t, p, "Boom", []any{1}, nil)
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Boom error = %T %v, want *PanicError", err, err)
	}
	// yaegi places a run-time error in native code (here a nil map write on
	// line 66) at the statement list it interrupted, inside Boom.
	if pe.Pos.File != file || pe.Pos.Line < 63 || pe.Pos.Line > 69 {
		t.Errorf("panic position = %v, want %s:63-69 (Boom)", pe.Pos, file)
	}
	if got := pe.Error(); got != "panic at "+pe.Pos.String()+": assignment to entry in nil map" {
		t.Errorf("Error() = %q", got)
	}
	// The program keeps working after a panic, and the position of the next
	// panic is that panic's own.
	if res, err := callProc(t, p, "Boom", []any{0}, nil); err != nil || res.Args[0] != int64(0) {
		t.Errorf("Boom(0) after a panic = %v, %v", res, err)
	}
	_, err = callProc(t, p, "PanicValue", nil, nil)
	if !errors.As(err, &pe) || pe.Pos != (diag.Pos{File: file, Line: 71, Column: 27}) {
		t.Fatalf("PanicValue = %#v", err)
	}
	if e, ok := pe.Value.(error); !ok || e.Error() != "custom" {
		t.Errorf("panic value = %#v, want the script's error", pe.Value)
	}
}

func TestBindEvents(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/bind"})
	on, err := p.EventHandler("OnEvent")
	if err != nil {
		t.Fatal(err)
	}
	full, err := p.EventHandler("OnEventFull")
	if err != nil {
		t.Fatal(err)
	}
	if err := on(t.Context(), &wamp.Event{Topic: "t1", Args: []any{"a", 1}}); err != nil {
		t.Error(err)
	}
	if err := on(t.Context(), &wamp.Event{Args: []any{"b"}, Kwargs: map[string]any{"n": 2}}); err != nil {
		t.Error(err)
	}
	if err := full(t.Context(), &wamp.Event{Topic: "t2"}); err != nil {
		t.Error(err)
	}
	wantWAMPError(t, on(t.Context(), &wamp.Event{Args: []any{"c", -1}}), "com.example.negative")
	wantWAMPError(t, on(t.Context(), &wamp.Event{Args: []any{"c"}}), wamp.ErrInvalidArgument, "OnEvent(topic string, n int): missing argument n int")
	boom, err := p.EventHandler("OnEventPanic")
	if err != nil {
		t.Fatal(err)
	}
	var pe *PanicError
	if err := boom(t.Context(), &wamp.Event{}); !errors.As(err, &pe) || pe.Value != "event boom" || pe.Pos.Line != 100 {
		t.Errorf("OnEventPanic = %#v", err)
	}
	if res, err := callProc(t, p, "Seen", nil, nil); err != nil || !reflect.DeepEqual(res.Args[0], []any{"a", "b", "t2"}) {
		t.Errorf("Seen = %v, %v", res, err)
	}
}

// Handlers a script hands over at run time (Session.Register) bind the
// same way, with positional names.
func TestBindFunctionValues(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/bind"})
	fn := p.funcs["MakeHandler"].value.Call([]reflect.Value{reflect.ValueOf(10)})[0].Interface()
	h, err := p.ProcedureOf(fn)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := h(t.Context(), &wamp.Invocation{Args: []any{5}}); err != nil || res.Args[0] != int64(15) {
		t.Errorf("handler(5) = %v, %v", res, err)
	}
	_, err = h(t.Context(), &wamp.Invocation{Args: []any{"x"}})
	wantWAMPError(t, err, wamp.ErrInvalidArgument, `handler(argument 1 int): argument argument 1: want int, got string "x"`)
	if _, err := p.EventHandlerOf(fn); err == nil {
		t.Error("a function with a result bound as an event handler")
	}
	if _, err := p.ProcedureOf(42); err == nil {
		t.Error("ProcedureOf(42) bound")
	}
	ev, err := p.EventHandlerOf(func(s string) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev(t.Context(), &wamp.Event{Args: []any{"x"}}); err != nil {
		t.Error(err)
	}
}
