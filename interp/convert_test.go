package interp

import (
	"encoding/base64"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

type tagged struct {
	Name    string            `json:"name"`
	Renamed int               `json:"n"`
	Opt     string            `json:"opt,omitempty"`
	Skip    string            `json:"-"`
	Dash    string            `json:"-,"`
	Plain   bool              // no tag: Go name
	Xlabel  string            // a compiled type's field: kept
	hidden  int               // an unexported field is dropped
	Ptr     *int              `json:"ptr"`
	Kids    []tagged          `json:"kids,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	embedded
}

type embedded struct {
	Depth int `json:"depth"`
}

type named string

func TestFromWAMP(t *testing.T) {
	seven := 7
	when := time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)
	for _, tc := range []struct {
		name string
		in   any
		to   any // a value of the target type
		want any // nil: want an error
		err  string
	}{
		{name: "nil into int", in: nil, to: 0, err: "want int, got null"},
		{name: "nil into pointer", in: nil, to: (*int)(nil), want: (*int)(nil)},
		{name: "nil into slice", in: nil, to: []int(nil), want: []int(nil)},
		{name: "nil into map", in: nil, to: map[string]int(nil), want: map[string]int(nil)},
		{name: "nil into any", in: nil, to: new(any), want: new(any)},
		{name: "bool", in: true, to: false, want: true},
		{name: "bool from string", in: "true", to: false, err: `want bool, got string "true"`},
		{name: "int", in: int64(-3), to: 0, want: -3},
		{name: "int8 max", in: int64(127), to: int8(0), want: int8(127)},
		{name: "int8 overflow", in: int64(128), to: int8(0), err: "want int8, got int64 128"},
		{name: "int8 underflow", in: int64(-129), to: int8(0), err: "want int8"},
		{name: "int16 overflow", in: int64(1 << 15), to: int16(0), err: "want int16"},
		{name: "int32 overflow", in: int64(1 << 31), to: int32(0), err: "want int32"},
		{name: "int32 min", in: int64(math.MinInt32), to: int32(0), want: int32(math.MinInt32)},
		{name: "int64 from uint64 max", in: uint64(math.MaxUint64), to: int64(0), err: "want int64"},
		{name: "int64 from big float", in: 1e19, to: int64(0), err: "want int64"},
		{name: "uint from negative", in: int64(-1), to: uint(0), err: "want uint, got int64 -1"},
		{name: "uint8 max", in: int64(255), to: uint8(0), want: uint8(255)},
		{name: "uint8 overflow", in: int64(256), to: uint8(0), err: "want uint8"},
		{name: "uint16 overflow", in: uint64(1 << 16), to: uint16(0), err: "want uint16"},
		{name: "uint32 overflow", in: uint64(1 << 32), to: uint32(0), err: "want uint32"},
		{name: "uint64 max", in: uint64(math.MaxUint64), to: uint64(0), want: uint64(math.MaxUint64)},
		{name: "uintptr", in: int64(5), to: uintptr(0), want: uintptr(5)},
		{name: "whole float into int", in: 3.0, to: 0, want: 3},
		{name: "whole float into uint16", in: 65535.0, to: uint16(0), want: uint16(65535)},
		{name: "fraction into int", in: 2.5, to: 0, err: "want int, got float64 2.5"},
		{name: "fraction into uint", in: 0.5, to: uint(0), err: "want uint"},
		{name: "NaN into int", in: math.NaN(), to: 0, err: "want int"},
		{name: "Inf into int64", in: math.Inf(1), to: int64(0), err: "want int64"},
		{name: "string into int", in: "3", to: 0, err: `want int, got string "3"`},
		{name: "float64", in: 2.5, to: 0.0, want: 2.5},
		{name: "float64 from int", in: int64(2), to: 0.0, want: 2.0},
		{name: "float32", in: 1.5, to: float32(0), want: float32(1.5)},
		{name: "float32 overflow", in: 1e39, to: float32(0), err: "want float32"},
		{name: "string", in: "héllo", to: "", want: "héllo"},
		{name: "named string", in: "x", to: named(""), want: named("x")},
		{name: "string from int", in: int64(1), to: "", err: "want string, got int64 1"},
		{name: "bytes raw", in: []byte{0, 1, 255}, to: []byte(nil), want: []byte{0, 1, 255}},
		{name: "bytes WAMP JSON", in: "\x00" + base64.StdEncoding.EncodeToString([]byte{0, 1, 255}), to: []byte(nil), want: []byte{0, 1, 255}},
		{name: "bytes from plain string", in: "abc", to: []byte(nil), want: []byte("abc")},
		{name: "bytes bad base64", in: "\x00!!!", to: []byte(nil), err: "want []uint8"},
		{name: "bytes from list", in: []any{int64(1), int64(2)}, to: []byte(nil), want: []byte{1, 2}},
		{name: "list", in: []any{int64(1), 2.0}, to: []int(nil), want: []int{1, 2}},
		{name: "list bad element", in: []any{int64(1), "x"}, to: []int(nil), err: `[1]: want int, got string "x"`},
		{name: "list from dict", in: map[string]any{}, to: []int(nil), err: "want list of int, got dict"},
		{name: "array", in: []any{int64(1), int64(2)}, to: [2]int{}, want: [2]int{1, 2}},
		{name: "array wrong length", in: []any{int64(1)}, to: [2]int{}, err: "want list of int, got list"},
		{name: "nested list", in: []any{[]any{"a"}, []any{}}, to: [][]string(nil), want: [][]string{{"a"}, {}}},
		{name: "map", in: map[string]any{"a": int64(1)}, to: map[string]int(nil), want: map[string]int{"a": 1}},
		{name: "map bad value", in: map[string]any{"a": "x"}, to: map[string]int(nil), err: `a: want int, got string "x"`},
		{name: "map int keys", in: map[string]any{"1": 1}, to: map[int]int(nil), err: "want dict"},
		{name: "map named keys", in: map[string]any{"k": true}, to: map[named]bool(nil), want: map[named]bool{"k": true}},
		{name: "any", in: []any{int64(1)}, to: new(any), want: func() *any { var v any = []any{int64(1)}; return &v }()},
		{name: "pointer", in: int64(7), to: (*int)(nil), want: &seven},
		{name: "pointer bad", in: "7", to: (*int)(nil), err: "want int"},
		{name: "struct", in: map[string]any{"name": "n", "n": 2.0, "opt": "o", "Skip": "s", "-": "d", "plain": true, "Xlabel": "l", "ptr": int64(7), "depth": int64(3), "unknown": 1, "kids": []any{map[string]any{"name": "kid"}}},
			to:   tagged{},
			want: tagged{Name: "n", Renamed: 2, Opt: "o", Dash: "d", Plain: true, Xlabel: "l", Ptr: &seven, Kids: []tagged{{Name: "kid"}}, embedded: embedded{Depth: 3}}},
		{name: "struct bad nested", in: map[string]any{"kids": []any{map[string]any{"n": "x"}}}, to: tagged{}, err: `kids[0].n: want int, got string "x"`},
		{name: "struct from list", in: []any{}, to: tagged{}, err: "want interp.tagged, got list"},
		{name: "time RFC3339", in: "2024-01-02T03:04:05.0000006Z", to: time.Time{}, want: when},
		{name: "time unix seconds", in: int64(1700000000), to: time.Time{}, want: time.Unix(1700000000, 0).UTC()},
		{name: "time unix float", in: 1700000000.5, to: time.Time{}, want: time.Unix(1700000000, 5e8).UTC()},
		{name: "time bad", in: "yesterday", to: time.Time{}, err: `want time.Time, got string "yesterday"`},
		{name: "time from bool", in: true, to: time.Time{}, err: "want time.Time"},
		{name: "duration string", in: "1.5s", to: time.Duration(0), want: 1500 * time.Millisecond},
		{name: "duration nanoseconds", in: int64(1000), to: time.Duration(0), want: time.Microsecond},
		{name: "duration bad", in: "soon", to: time.Duration(0), err: "want time.Duration"},
		{name: "deep", in: nest(70), to: new(any), want: func() *any { var v any = nest(70); return &v }()},
		{name: "too deep typed", in: nestList(70), to: nestedListType(70), err: "nested at most 64 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := reflect.TypeOf(tc.to)
			if p, ok := tc.to.(*any); ok && p != nil {
				typ = reflect.TypeOf(p).Elem()
			}
			got, err := FromWAMP(tc.in, typ)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("FromWAMP(%#v, %s) error = %v, want %q", tc.in, typ, err, tc.err)
				}
				if _, ok := err.(*ConvertError); !ok {
					t.Errorf("error is %T, want *ConvertError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromWAMP(%#v, %s): %v", tc.in, typ, err)
			}
			if got.Type() != typ {
				t.Errorf("type = %s, want %s", got.Type(), typ)
			}
			want := tc.want
			if p, ok := want.(*any); ok {
				want = *p
			}
			if !reflect.DeepEqual(got.Interface(), want) {
				t.Errorf("FromWAMP(%#v, %s) = %#v, want %#v", tc.in, typ, got.Interface(), want)
			}
		})
	}
}

func nest(n int) any {
	var v any = "leaf"
	for i := 0; i < n; i++ {
		v = []any{v}
	}
	return v
}

func nestList(n int) any { return nest(n) }

// nestedListType is a zero value of [][]...[]string, n deep.
func nestedListType(n int) any {
	t := reflect.TypeOf("")
	for i := 0; i < n; i++ {
		t = reflect.SliceOf(t)
	}
	return reflect.Zero(t).Interface()
}

type cyclic struct {
	Next *cyclic `json:"next"`
}

type textKey struct{ A, B int }

func TestToWAMP(t *testing.T) {
	seven := 7
	c := &cyclic{}
	c.Next = c
	var nilMap map[string]int
	var nilIface any
	for _, tc := range []struct {
		name string
		in   any
		want any
		err  string
	}{
		{name: "nil", in: nil, want: nil},
		{name: "bool", in: true, want: true},
		{name: "int", in: -3, want: int64(-3)},
		{name: "int8", in: int8(-8), want: int64(-8)},
		{name: "int16", in: int16(16), want: int64(16)},
		{name: "int32", in: int32(32), want: int64(32)},
		{name: "int64", in: int64(math.MinInt64), want: int64(math.MinInt64)},
		{name: "uint", in: uint(1), want: uint64(1)},
		{name: "uint8", in: uint8(255), want: uint64(255)},
		{name: "uint16", in: uint16(65535), want: uint64(65535)},
		{name: "uint32", in: uint32(1 << 31), want: uint64(1 << 31)},
		{name: "uint64", in: uint64(math.MaxUint64), want: uint64(math.MaxUint64)},
		{name: "float32", in: float32(1.5), want: 1.5},
		{name: "float64", in: 2.25, want: 2.25},
		{name: "string", in: "s", want: "s"},
		{name: "named string", in: named("n"), want: "n"},
		{name: "bytes", in: []byte{1, 2}, want: []byte{1, 2}},
		{name: "nil bytes", in: []byte(nil), want: nil},
		{name: "byte array", in: [2]byte{1, 2}, want: []any{uint64(1), uint64(2)}},
		{name: "list", in: []int{1, 2}, want: []any{int64(1), int64(2)}},
		{name: "nil list", in: []int(nil), want: nil},
		{name: "list of any", in: []any{1, "a", nil}, want: []any{int64(1), "a", nil}},
		{name: "map", in: map[string]int{"a": 1}, want: map[string]any{"a": int64(1)}},
		{name: "nil map", in: nilMap, want: nil},
		{name: "map named keys", in: map[named]int{"k": 1}, want: map[string]any{"k": int64(1)}},
		{name: "map int keys", in: map[int]bool{3: true}, want: map[string]any{"3": true}},
		{name: "map struct keys", in: map[textKey]int{{1, 2}: 3}, want: map[string]any{"{1 2}": int64(3)}},
		{name: "pointer", in: &seven, want: int64(7)},
		{name: "nil pointer", in: (*int)(nil), want: nil},
		{name: "nil interface in list", in: []any{nilIface}, want: []any{nil}},
		{name: "struct", in: tagged{Name: "n", Renamed: 2, Skip: "s", Dash: "d", Plain: true, Xlabel: "l", hidden: 1, Ptr: &seven, embedded: embedded{Depth: 3},
			Kids: []tagged{{Name: "kid", Opt: "o"}}},
			want: map[string]any{"name": "n", "n": int64(2), "-": "d", "Plain": true, "Xlabel": "l", "ptr": int64(7), "depth": int64(3),
				"kids": []any{map[string]any{"name": "kid", "n": int64(0), "opt": "o", "-": "", "Plain": false, "Xlabel": "", "ptr": nil, "depth": int64(0)}}}},
		{name: "unnamed struct as yaegi builds it", in: struct {
			Name   string `json:"name"`
			Xlabel string
			Xray   int `json:"xray"`
		}{"n", "hidden", 1}, want: map[string]any{"name": "n", "xray": int64(1)}},
		{name: "struct pointer", in: &embedded{Depth: 1}, want: map[string]any{"depth": int64(1)}},
		{name: "time", in: time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC), want: "2024-01-02T03:04:05.0000006Z"},
		{name: "time with zone", in: time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), want: "2024-01-02T03:04:05+01:00"},
		{name: "duration", in: 1500 * time.Millisecond, want: "1.5s"},
		{name: "big.Int marshals itself", in: big.NewInt(42), want: 42.0},
		{name: "chan", in: make(chan int), err: "a chan cannot be sent over WAMP"},
		{name: "func in list", in: []any{func() {}}, err: "[0]: a func cannot be sent over WAMP"},
		{name: "func in map", in: map[string]any{"f": func() {}}, err: "f: a func cannot be sent over WAMP"},
		{name: "complex", in: complex(1, 2), err: "a complex128 cannot be sent over WAMP"},
		{name: "cycle", in: c, err: "nested more than 64 deep (a cycle?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToWAMP(reflect.ValueOf(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ToWAMP(%T) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ToWAMP(%#v): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ToWAMP(%#v) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

// TestScriptValues converts values whose types a script defines: that is the
// real boundary, where yaegi has renamed and re-typed everything.
func TestScriptValues(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/values"})
	item := map[string]any{
		"id":         int64(7),
		"created":    "2024-01-02T03:04:05Z",
		"name":       "widget",
		"title_text": "The Widget",
		"Xray":       int64(9),
		"Count":      uint64(3),
		"ratio":      0.5,
		"tags":       []any{"a", "b"},
		"attrs":      map[string]any{"x": int64(1)},
		"inner":      map[string]any{"deep": "down"},
		"data":       []byte{1, 2, 3},
		"wait":       "1.5s",
		"any":        []any{int64(1), "two"},
		"nested":     map[string]any{"k": map[string]any{"deep": "v"}},
	}
	for _, tc := range []struct {
		fn   string
		want any
	}{
		{"MakeItem", item},
		{"MakeItemPtr", item},
		{"NilItem", nil},
		{"Embedded", map[string]any{"deep": "e"}},
		{"Temp", 21.5},
		{"List", []any{"x", "y"}},
	} {
		res, err := callProc(t, p, tc.fn, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.fn, err)
		}
		if len(res.Args) != 1 || !reflect.DeepEqual(res.Args[0], tc.want) {
			t.Errorf("%s() =\n%#v\nwant\n%#v", tc.fn, res.Args, tc.want)
		}
	}

	// Inbound: the same dict, as a JSON peer would send it, fills the
	// script's struct, and comes back unchanged.
	in := map[string]any{}
	for k, v := range item {
		in[k] = v
	}
	in["data"] = "\x00" + base64.StdEncoding.EncodeToString([]byte{1, 2, 3})
	in["Count"] = 3.0
	in["created"] = int64(1704164645) // unix seconds for the same instant
	in["Secret"] = "ignored: json:\"-\""
	in["label"] = "ignored: unexported"
	in["Xlabel"] = "ignored: unexported"
	res, err := callProc(t, p, "Echo", []any{in}, nil)
	if err != nil {
		t.Fatalf("Echo: %v", err)
	}
	if !reflect.DeepEqual(res.Args[0], item) {
		t.Errorf("Echo() =\n%#v\nwant\n%#v", res.Args[0], item)
	}
	// By keyword arguments, into a pointer to a script struct.
	res, err = callProc(t, p, "Describe", nil, map[string]any{"name": "n", "title_text": "t", "Secret": "s", "created": "2024-01-02T03:04:05Z", "wait": "2m", "inner": map[string]any{"deep": "d"}})
	if err != nil || res.Args[0] != "n|t||2024-01-02T03:04:05Z|2m0s|d" {
		t.Errorf("Describe = %v, %v", res, err)
	}
	_, err = callProc(t, p, "Echo", []any{map[string]any{"tags": "not a list"}}, nil)
	wantWAMPError(t, err, "wamp.error.invalid_argument", "Echo(it dict (struct)): argument it: tags: want list of string, got string")
}

// A list of lists goes out as deep as FromWAMP lets it in.
func TestToWAMPDepth(t *testing.T) {
	if _, err := ToWAMP(reflect.ValueOf(nest(64))); err != nil {
		t.Errorf("64 nested lists: %v", err)
	}
	if _, err := ToWAMP(reflect.ValueOf(nest(65))); err == nil || !strings.Contains(err.Error(), "nested more than 64 deep") {
		t.Errorf("65 nested lists: %v", err)
	}
	var self any
	self = &self
	if _, err := ToWAMP(reflect.ValueOf(self)); err == nil {
		t.Error("a pointer to itself converted")
	}
}
