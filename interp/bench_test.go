package interp

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

// Each benchmark runs the script path, then the same work compiled:
// "native" is the compiled function through the same binder (reflect), and
// "direct" is a plain Go call with no binder. Compare ns/op within one run.

func nativeAdd2(x, y int) int { return x + y }

func nativeFull(ctx context.Context, inv *wamp.Invocation) (*wamp.Result, error) {
	return &wamp.Result{Args: []any{inv.Procedure, len(inv.Args), inv.Kwargs["k"]}}, nil
}

func benchProc(b *testing.B, h Procedure, inv *wamp.Invocation) {
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := h(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcedurePlain(b *testing.B) {
	p := mustLoad(b, Options{Source: "testdata/bind"})
	inv := &wamp.Invocation{Args: []any{int64(2), int64(3)}}
	b.Run("script", func(b *testing.B) {
		h, err := p.Procedure("Add2")
		if err != nil {
			b.Fatal(err)
		}
		benchProc(b, h, inv)
	})
	b.Run("native", func(b *testing.B) {
		h, err := p.ProcedureOf(nativeAdd2)
		if err != nil {
			b.Fatal(err)
		}
		benchProc(b, h, inv)
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x, _ := inv.Args[0].(int64)
			y, _ := inv.Args[1].(int64)
			res := &wamp.Result{Args: []any{int64(nativeAdd2(int(x), int(y)))}}
			if res.Args[0] != int64(5) {
				b.Fatal(res)
			}
		}
	})
}

func BenchmarkProcedureFull(b *testing.B) {
	p := mustLoad(b, Options{Source: "testdata/bind"})
	inv := &wamp.Invocation{Procedure: "com.example.full", Args: []any{int64(1), "a"}, Kwargs: map[string]any{"k": "v"}}
	b.Run("script", func(b *testing.B) {
		h, err := p.Procedure("Full")
		if err != nil {
			b.Fatal(err)
		}
		benchProc(b, h, inv)
	})
	b.Run("native", func(b *testing.B) {
		h, err := p.ProcedureOf(nativeFull)
		if err != nil {
			b.Fatal(err)
		}
		benchProc(b, h, inv)
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			if _, err := nativeFull(ctx, inv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchItem is testdata/values' Item, compiled.
type benchItem struct {
	benchBase
	Name   string `json:"name"`
	Title  string `json:"title_text"`
	Note   string `json:"note,omitempty"`
	Secret string `json:"-"`
	Xray   int
	Count  uint8
	Ratio  float32               `json:"ratio"`
	Tags   []string              `json:"tags"`
	Attrs  map[string]int        `json:"attrs"`
	Inner  *benchInner           `json:"inner,omitempty"`
	Data   []byte                `json:"data"`
	Wait   time.Duration         `json:"wait"`
	Any    any                   `json:"any"`
	Nested map[string]benchInner `json:"nested"`
}

type benchBase struct {
	ID      int       `json:"id"`
	Created time.Time `json:"created"`
}

type benchInner struct {
	Deep string `json:"deep"`
}

func makeBenchItem() benchItem {
	return benchItem{
		benchBase: benchBase{ID: 7, Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		Name:      "widget", Title: "The Widget", Secret: "hidden", Xray: 9, Count: 3, Ratio: 0.5,
		Tags: []string{"a", "b"}, Attrs: map[string]int{"x": 1}, Inner: &benchInner{Deep: "down"},
		Data: []byte{1, 2, 3}, Wait: 1500 * time.Millisecond, Any: []any{1, "two"},
		Nested: map[string]benchInner{"k": {Deep: "v"}},
	}
}

// directItem is what a hand-written conversion of benchItem would do.
func directItem(it *benchItem) map[string]any {
	nested := make(map[string]any, len(it.Nested))
	for k, v := range it.Nested {
		nested[k] = map[string]any{"deep": v.Deep}
	}
	attrs := make(map[string]any, len(it.Attrs))
	for k, v := range it.Attrs {
		attrs[k] = int64(v)
	}
	tags := make([]any, len(it.Tags))
	for i, s := range it.Tags {
		tags[i] = s
	}
	return map[string]any{
		"id": int64(it.ID), "created": it.Created.Format(time.RFC3339Nano), "name": it.Name, "title_text": it.Title,
		"Xray": int64(it.Xray), "Count": uint64(it.Count), "ratio": float64(it.Ratio), "tags": tags, "attrs": attrs,
		"inner": map[string]any{"deep": it.Inner.Deep}, "data": it.Data, "wait": it.Wait.String(),
		"any": []any{int64(1), "two"}, "nested": nested,
	}
}

func scriptItem(b *testing.B) reflect.Value {
	p := mustLoad(b, Options{Source: "testdata/values"})
	return p.funcs["MakeItem"].value.Call(nil)[0]
}

func BenchmarkToWAMPStruct(b *testing.B) {
	script := scriptItem(b)
	native := makeBenchItem()
	want, err := ToWAMP(script)
	if err != nil {
		b.Fatal(err)
	}
	if got, _ := ToWAMP(reflect.ValueOf(native)); !reflect.DeepEqual(got, want) {
		b.Fatalf("the native baseline converts differently:\n%#v\n%#v", got, want)
	}
	b.Run("script", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ToWAMP(script); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		v := reflect.ValueOf(native)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ToWAMP(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = directItem(&native)
		}
	})
}

func BenchmarkFromWAMPStruct(b *testing.B) {
	script := scriptItem(b)
	in, err := ToWAMP(script)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("script", func(b *testing.B) {
		t := script.Type()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := FromWAMP(in, t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		t := reflect.TypeOf(benchItem{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := FromWAMP(in, t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		m := in.(map[string]any)
		b.ReportAllocs()
		for b.Loop() {
			var it benchItem
			it.ID = int(m["id"].(int64))
			it.Created, _ = time.Parse(time.RFC3339Nano, m["created"].(string))
			it.Name, _ = m["name"].(string)
			it.Title, _ = m["title_text"].(string)
			it.Xray = int(m["Xray"].(int64))
			it.Count = uint8(m["Count"].(uint64))
			it.Ratio = float32(m["ratio"].(float64))
			for _, t := range m["tags"].([]any) {
				it.Tags = append(it.Tags, t.(string))
			}
			it.Attrs = map[string]int{}
			for k, v := range m["attrs"].(map[string]any) {
				it.Attrs[k] = int(v.(int64))
			}
			it.Inner = &benchInner{Deep: m["inner"].(map[string]any)["deep"].(string)}
			it.Data = m["data"].([]byte)
			it.Wait, _ = time.ParseDuration(m["wait"].(string))
			it.Any = m["any"]
			it.Nested = map[string]benchInner{}
			for k, v := range m["nested"].(map[string]any) {
				it.Nested[k] = benchInner{Deep: v.(map[string]any)["deep"].(string)}
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ds := Load(Options{Source: "testdata/values"}); ds.HasErrors() {
			b.Fatal(ds)
		}
	}
}
