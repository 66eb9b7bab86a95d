package interp

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

type fuzzStruct struct {
	A int               `json:"a"`
	B []string          `json:"b,omitempty"`
	C map[string]uint8  `json:"c"`
	D *fuzzStruct       `json:"d"`
	E time.Time         `json:"e"`
	F time.Duration     `json:"f"`
	G []byte            `json:"g"`
	H [2]float32        `json:"h"`
	I any               `json:"i"`
	J map[string][]bool `json:"j"`
	embedded
}

var fuzzTargets = []reflect.Type{
	reflect.TypeOf(0), reflect.TypeOf(int8(0)), reflect.TypeOf(uint64(0)), reflect.TypeOf(float32(0)),
	reflect.TypeOf(""), reflect.TypeOf(false), reflect.TypeOf([]byte(nil)), reflect.TypeOf([]int(nil)),
	reflect.TypeOf(map[string]any(nil)), reflect.TypeOf((*any)(nil)).Elem(), reflect.TypeOf(fuzzStruct{}),
	reflect.TypeOf(&fuzzStruct{}), reflect.TypeOf(time.Time{}), reflect.TypeOf(time.Duration(0)), reflect.TypeOf([][]*int(nil)),
}

// decodeAny decodes JSON as a WAMP peer's payload arrives: numbers as
// int64 when whole, else float64.
func decodeAny(data []byte) (any, bool) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, false
	}
	return normalise(v), true
}

func normalise(v any) any {
	switch x := v.(type) {
	case float64:
		if i := int64(x); float64(i) == x {
			return i
		}
	case []any:
		for i := range x {
			x[i] = normalise(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalise(x[k])
		}
	}
	return v
}

func FuzzFromWAMP(f *testing.F) {
	for _, s := range []string{`null`, `1`, `-1`, `2.5`, `1e300`, `"x"`, `"\u0000AAEC"`, `[1,2]`, `{"a":1,"b":["x"],"c":{"k":255},"d":{"a":2}}`,
		`{"e":"2024-01-02T03:04:05Z","f":"1s","g":"\u0000AQI=","h":[1,2],"j":{"x":[true]},"depth":3}`, `[[[[1]]]]`, `{"e":1700000000.5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decodeAny(data)
		if !ok {
			return
		}
		for _, typ := range fuzzTargets {
			out, err := FromWAMP(v, typ)
			if err != nil {
				var ce *ConvertError
				if !errors.As(err, &ce) || err.Error() == "" {
					t.Fatalf("FromWAMP(%s): error %T %v", typ, err, err)
				}
				continue
			}
			if out.Type() != typ {
				t.Fatalf("FromWAMP gave %s, want %s", out.Type(), typ)
			}
			// Whatever came in goes back out, unless FromWAMP let it in
			// untouched (into any) deeper than ToWAMP sends.
			if _, err := ToWAMP(out); err != nil && !(depthOf(v) > maxDepth && strings.Contains(err.Error(), "nested more than")) {
				t.Fatalf("ToWAMP(FromWAMP(%s)): %v", typ, err)
			}
		}
	})
}

// depthOf counts the lists and dicts nested in a decoded value.
func depthOf(v any) int {
	d := 0
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

func FuzzToWAMP(f *testing.F) {
	for _, s := range []string{`{"a":1,"d":{"d":{"a":3}}}`, `[1,"x",null,{"y":[2.5]}]`, `"s"`, `{"h":[1e38,-1e38]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decodeAny(data)
		if !ok {
			return
		}
		// Plain values come back unchanged, up to the depth limit.
		if depthOf(v) > maxDepth {
			return
		}
		if got, err := ToWAMP(reflect.ValueOf(v)); err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("ToWAMP(%#v) = %#v, %v", v, got, err)
		}
		// A struct decoded from them converts back without error.
		if out, err := FromWAMP(v, reflect.TypeOf(fuzzStruct{})); err == nil {
			if _, err := ToWAMP(out); err != nil {
				t.Fatalf("ToWAMP(struct): %v", err)
			}
		}
	})
}

var (
	fuzzProgOnce sync.Once
	fuzzProg     *Program
	fuzzProcs    []Procedure
	fuzzEvents   []EventHandler
)

func FuzzBind(f *testing.F) {
	for _, s := range [][2]string{
		{`[1,2]`, `{}`}, {`[]`, `{"x":1,"y":2}`}, {`["-","a"]`, `null`}, {`["hi"]`, `{"name":"a","age":1}`},
		{`[1,2,3]`, `{"z":1}`}, {`[{"name":1}]`, `{}`}, {`[[1,{"a":null}]]`, `{"k":"v"}`}, {`[1.5]`, `{}`}, {`["t",-1]`, `{}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, argsJSON, kwargsJSON []byte) {
		fuzzProgOnce.Do(func() {
			fuzzProg = mustLoad(t, Options{Source: "testdata/bind"})
			for _, name := range []string{"Add2", "Sum", "Join", "Greet", "Older", "Nothing", "Pair", "Anything", "Full", "Boom", "NothingOrError"} {
				h, err := fuzzProg.Procedure(name)
				if err != nil {
					t.Fatal(err)
				}
				fuzzProcs = append(fuzzProcs, h)
			}
			for _, name := range []string{"OnEvent", "OnEventFull"} {
				h, err := fuzzProg.EventHandler(name)
				if err != nil {
					t.Fatal(err)
				}
				fuzzEvents = append(fuzzEvents, h)
			}
		})
		a, ok1 := decodeAny(argsJSON)
		k, ok2 := decodeAny(kwargsJSON)
		args, _ := a.([]any)
		kwargs, _ := k.(map[string]any)
		if !ok1 || !ok2 {
			return
		}
		for _, h := range fuzzProcs {
			res, err := h(t.Context(), &wamp.Invocation{Procedure: "fuzz", Args: args, Kwargs: kwargs})
			checkOutcome(t, res != nil, err)
		}
		for _, h := range fuzzEvents {
			err := h(t.Context(), &wamp.Event{Topic: "fuzz", Args: args, Kwargs: kwargs})
			checkOutcome(t, err == nil, err)
		}
	})
}

// checkOutcome accepts a result, a *wamp.Error with one of the binder's
// URIs (or the script's own com.example ones), the script's plain error, or
// a recovered panic.
func checkOutcome(t *testing.T, ok bool, err error) {
	t.Helper()
	if err == nil {
		if !ok {
			t.Fatal("no result and no error")
		}
		return
	}
	var we *wamp.Error
	var pe *PanicError
	switch {
	case errors.As(err, &we):
		switch we.URI {
		case wamp.ErrInvalidArgument, wamp.ErrRuntimeError, "com.example.negative":
		default:
			t.Fatalf("unexpected error URI %s: %v", we.URI, we)
		}
	case errors.As(err, &pe):
		if pe.Pos.File == "" {
			t.Fatalf("panic without a position: %v", pe)
		}
	case err.Error() == "plain failure":
	default:
		t.Fatalf("unexpected error %T %v", err, err)
	}
}
