package interp

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/wamphost/wamphost/wamp"
)

var (
	contextType    = reflect.TypeOf((*context.Context)(nil)).Elem()
	invocationType = reflect.TypeOf((*wamp.Invocation)(nil))
	eventType      = reflect.TypeOf((*wamp.Event)(nil))
	resultType     = reflect.TypeOf(wamp.Result{})
	resultPtrType  = reflect.TypeOf((*wamp.Result)(nil))
)

// signature is what the host needs to know to call one handler function.
// Handlers come in two forms:
//
//   - full: func([ctx context.Context,] inv *wamp.Invocation) for procedures,
//     func([ctx,] ev *wamp.Event) for events: the call as it arrived;
//   - plain: func([ctx,] p1 T1, p2 T2, ...): parameters bind from the
//     positional arguments, then by name from the keyword arguments; a last
//     struct parameter left over takes all keyword arguments by json tag.
//
// Either form may end its results with an error.
type signature struct {
	name     string
	fn       reflect.Value
	direct   func([]reflect.Value) []reflect.Value // fn's body, when known
	withCtx  bool
	full     bool
	params   []param
	variadic bool
	outVals  int
	hasErr   bool
	// returnsResult is set when the one value result is a wamp.Result.
	returnsResult bool
}

type param struct {
	name string
	typ  reflect.Type
}

func (p param) String() string { return p.name + " " + typeName(p.typ) }

func analyse(name string, fn reflect.Value, names []string, fullType reflect.Type) (*signature, error) {
	if !fn.IsValid() || fn.Kind() != reflect.Func {
		return nil, fmt.Errorf("%s is not a function", name)
	}
	t := fn.Type()
	s := &signature{name: name, fn: fn, variadic: t.IsVariadic()}
	i := 0
	if t.NumIn() > 0 && t.In(0) == contextType {
		s.withCtx = true
		i = 1
	}
	if t.NumIn()-i == 1 && t.In(i) == fullType {
		s.full = true
	} else {
		for ; i < t.NumIn(); i++ {
			pt := t.In(i)
			if pt == contextType || pt == invocationType || pt == eventType {
				return nil, fmt.Errorf("%s: %s may only come first (context) or alone after it (full form), got %s", name, pt, t)
			}
			if pt.Kind() == reflect.Func || pt.Kind() == reflect.Chan {
				return nil, fmt.Errorf("%s: parameter %d is a %s, which no WAMP argument can fill", name, i+1, pt.Kind())
			}
			n := fmt.Sprintf("argument %d", len(s.params)+1)
			if k := len(s.params) + boolInt(s.withCtx); k < len(names) {
				n = names[k]
			}
			s.params = append(s.params, param{name: n, typ: pt})
		}
	}
	outs := t.NumOut()
	if outs > 0 && t.Out(outs-1) == errorType {
		s.hasErr = true
		outs--
	}
	for j := 0; j < outs; j++ {
		ot := t.Out(j)
		switch {
		case ot == errorType:
			return nil, fmt.Errorf("%s: error must be the last result, got %s", name, t)
		case ot.Kind() == reflect.Func || ot.Kind() == reflect.Chan:
			return nil, fmt.Errorf("%s: result %d is a %s, which cannot be sent over WAMP", name, j+1, ot.Kind())
		case (ot == resultType || ot == resultPtrType) && outs != 1:
			return nil, fmt.Errorf("%s: a wamp.Result must be the only value result", name)
		}
	}
	s.outVals = outs
	s.returnsResult = outs == 1 && (t.Out(0) == resultType || t.Out(0) == resultPtrType)
	return s, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *signature) describe() string {
	ps := make([]string, len(s.params))
	for i, p := range s.params {
		ps[i] = p.String()
		if s.variadic && i == len(s.params)-1 {
			ps[i] = p.name + " ..." + typeName(p.typ.Elem())
		}
	}
	return s.name + "(" + strings.Join(ps, ", ") + ")"
}

// bind builds the argument list for a plain-form call.
func (s *signature) bind(in []reflect.Value, args []any, kwargs map[string]any) ([]reflect.Value, error) {
	n := len(s.params)
	fixed := n
	if s.variadic {
		fixed = n - 1
	}
	if !s.variadic && len(args) > n {
		return nil, invalidArg("%s takes %d argument%s, got %d", s.describe(), n, plural(n), len(args))
	}
	// Most calls carry no keyword arguments: no map for them.
	var used map[string]bool
	if len(kwargs) > 0 {
		used = make(map[string]bool, len(kwargs))
	}
	for i := 0; i < fixed; i++ {
		p := s.params[i]
		var v any
		switch kw, named := kwargs[p.name]; {
		case i < len(args):
			v = args[i]
		case named:
			v, used[p.name] = kw, true
		case i == n-1 && isStructParam(p.typ):
			// The last struct parameter takes the keyword arguments.
			for k := range kwargs {
				used[k] = true
			}
			if kwargs != nil {
				v = kwargs
			} else {
				v = map[string]any{}
			}
		default:
			return nil, invalidArg("%s: missing argument %s", s.describe(), p)
		}
		rv, err := FromWAMP(v, p.typ)
		if err != nil {
			return nil, invalidArg("%s: argument %s: %s", s.describe(), p.name, err)
		}
		in = append(in, rv)
	}
	if s.variadic {
		p := s.params[n-1]
		for i := fixed; i < len(args); i++ {
			rv, err := FromWAMP(args[i], p.typ.Elem())
			if err != nil {
				return nil, invalidArg("%s: argument %s[%d]: %s", s.describe(), p.name, i-fixed, err)
			}
			in = append(in, rv)
		}
	}
	for k := range kwargs {
		if !used[k] {
			return nil, invalidArg("%s: unexpected keyword argument %q", s.describe(), k)
		}
	}
	return in, nil
}

func isStructParam(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != timeType
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func invalidArg(format string, args ...any) *wamp.Error {
	return wamp.NewError(wamp.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// useDirect calls the function's body directly from now on, skipping
// reflect.Value.Call and MakeFunc's stub, which convert every argument and
// result twice. Not for variadic functions: the body takes their last
// argument as a slice, which call does not build.
func (s *signature) useDirect(direct func([]reflect.Value) []reflect.Value) {
	if !s.variadic {
		s.direct = direct
	}
}

// call runs the function and sorts its results into values and an error.
func (s *signature) call(ctx context.Context, first reflect.Value, args []any, kwargs map[string]any) ([]reflect.Value, error) {
	in := make([]reflect.Value, 0, len(s.params)+len(args)+1)
	if s.withCtx {
		in = append(in, reflect.ValueOf(&ctx).Elem())
	}
	if s.full {
		in = append(in, first)
	} else {
		var err error
		if in, err = s.bind(in, args, kwargs); err != nil {
			return nil, err
		}
	}
	var out []reflect.Value
	if s.direct != nil {
		out = s.direct(in)
	} else {
		out = s.fn.Call(in)
	}
	if s.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		out = out[:len(out)-1]
	}
	return out, nil
}

func (p *Program) procedureOf(name string, fn reflect.Value, direct func([]reflect.Value) []reflect.Value, names []string) (Procedure, error) {
	s, err := analyse(name, fn, names, invocationType)
	if err != nil {
		return nil, err
	}
	s.useDirect(direct)
	return func(ctx context.Context, inv *wamp.Invocation) (res *wamp.Result, err error) {
		defer p.recoverInto(&err, p.panics.mark())
		out, err := s.call(ctx, reflect.ValueOf(inv), inv.Args, inv.Kwargs)
		if err != nil {
			return nil, err
		}
		return s.result(out)
	}, nil
}

// result turns a handler's value results into a WAMP result.
func (s *signature) result(out []reflect.Value) (*wamp.Result, error) {
	if s.returnsResult {
		v := out[0]
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return &wamp.Result{}, nil
			}
			v = v.Elem()
		}
		r := v.Interface().(wamp.Result)
		args, err := ToWAMP(reflect.ValueOf(r.Args))
		if err != nil {
			return nil, wamp.NewError(wamp.ErrRuntimeError, "result args: "+err.Error())
		}
		kwargs, err := ToWAMP(reflect.ValueOf(r.Kwargs))
		if err != nil {
			return nil, wamp.NewError(wamp.ErrRuntimeError, "result kwargs: "+err.Error())
		}
		res := &wamp.Result{}
		res.Args, _ = args.([]any)
		res.Kwargs, _ = kwargs.(map[string]any)
		return res, nil
	}
	res := &wamp.Result{Args: make([]any, len(out))}
	for i, v := range out {
		w, err := ToWAMP(v)
		if err != nil {
			return nil, wamp.NewError(wamp.ErrRuntimeError, fmt.Sprintf("%s: result %d: %s", s.name, i+1, err))
		}
		res.Args[i] = w
	}
	return res, nil
}

func (p *Program) eventHandlerOf(name string, fn reflect.Value, direct func([]reflect.Value) []reflect.Value, names []string) (EventHandler, error) {
	s, err := analyse(name, fn, names, eventType)
	if err != nil {
		return nil, err
	}
	s.useDirect(direct)
	if s.outVals > 0 {
		return nil, fmt.Errorf("%s: an event handler returns nothing or an error, got %s", name, fn.Type())
	}
	return func(ctx context.Context, ev *wamp.Event) (err error) {
		defer p.recoverInto(&err, p.panics.mark())
		_, err = s.call(ctx, reflect.ValueOf(ev), ev.Args, ev.Kwargs)
		return err
	}, nil
}
