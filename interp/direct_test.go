package interp

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wamphost/wamphost/wamp"
)

// TestDirectCallsMatchReflect: handlers called through their body (yaegi's
// FuncImpl) give what reflect.Value.Call on yaegi's function value gives,
// for the handler forms of testdata/bind, from a directory and from a
// single file.
func TestDirectCallsMatchReflect(t *testing.T) {
	for _, source := range []string{"testdata/bind", "testdata/bind/bind.go"} {
		p := mustLoad(t, Options{Source: source})
		for name, f := range p.funcs {
			if !f.value.IsValid() || f.value.Kind() != reflect.Func || f.value.Type().IsVariadic() {
				continue
			}
			if f.direct == nil {
				t.Errorf("%s: %s has no direct body", filepath.Base(source), name)
			}
		}
	}
	p := mustLoad(t, Options{Source: "testdata/bind/bind.go"})
	viaReflect := func(name string) Procedure {
		f := p.funcs[name]
		proc, err := p.procedureOf(f.name, f.value, nil, f.params)
		if err != nil {
			t.Fatal(err)
		}
		return proc
	}
	calls := 0
	for name := range p.funcs {
		direct, err := p.Procedure(name)
		if err != nil {
			continue // not a procedure shape
		}
		reflected := viaReflect(name)
		for _, args := range [][]any{nil, {int64(2), int64(3)}, {"x"}, {int64(1), "two", 3.5}, {map[string]any{"name": "Ada", "age": int64(36)}}, {"hi", map[string]any{"name": "Ada", "age": int64(36)}}, {true}} {
			inv := &wamp.Invocation{Procedure: "com.test." + name, Args: args, Kwargs: map[string]any{}}
			r1, err1 := direct(context.Background(), inv)
			r2, err2 := reflected(context.Background(), inv)
			if !reflect.DeepEqual(r1, r2) || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
				t.Errorf("%s%v: direct gave %v, %v; reflect gave %v, %v", name, args, r1, err1, r2, err2)
			}
			calls++
		}
	}
	if calls == 0 {
		t.Fatal("no procedure in testdata/bind was called")
	}
	// The comparison covers calls that got as far as the script, too.
	older, err := p.Procedure("Older")
	if err != nil {
		t.Fatal(err)
	}
	res, err := older(context.Background(), &wamp.Invocation{Args: []any{map[string]any{"name": "Ada", "age": int64(36)}}})
	if err != nil || len(res.Args) != 1 || !reflect.DeepEqual(res.Args[0], map[string]any{"name": "Ada", "age": int64(37)}) {
		t.Fatalf("Older(Ada, 36) = %+v, %v", res, err)
	}
}
