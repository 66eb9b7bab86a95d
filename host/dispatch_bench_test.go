package host

import (
	"path/filepath"
	"runtime"
	"testing"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/loader"
)

// BenchmarkDispatchAdd2 measures wamphost's own share of one call: from the
// INVOCATION nexus hands the registration's handler to the YIELD payload,
// through acquire, dispatch, argument binding, the interpreted add2 and
// result conversion. `make bench` measures the whole path over WebSocket.
func BenchmarkDispatchAdd2(b *testing.B) {
	_, file, _, _ := runtime.Caller(0)
	cc := &loader.Component{Name: "add2", Realm: "realm1", Source: filepath.Join(filepath.Dir(file), "..", "examples", "add2"),
		Registers: []*loader.Binding{{Kind: loader.Register, URI: "com.myapp.add2", Handler: "Add2", Match: "exact", Concurrency: 64}}}
	g, ds := build(cc, nil, nil)
	if ds.HasErrors() {
		b.Fatal(ds)
	}
	defer g.retire()
	c := newComponent(New(&loader.Config{}, Options{}), cc)
	c.gen = g
	r := c.newRoute(cc.Registers[0])
	call := func() {
		inv := &nxwamp.Invocation{Request: 1, Details: nxwamp.Dict{}, Arguments: nxwamp.List{int64(2), int64(3)}}
		g := c.acquire()
		res := c.dispatchCall(newCallCtx(nil), g, r, g.procs[r.key], inv)
		g.leave()
		if res.Err != "" || len(res.Args) != 1 || res.Args[0] != int64(5) {
			b.Fatalf("add2(2, 3) = %+v", res)
		}
	}
	b.ReportAllocs()
	b.Run("seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			call()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call()
			}
		})
	})
}
