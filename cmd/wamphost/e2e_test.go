package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

// These tests start the real wamphost binary on a free port and drive it
// over WebSocket with a nexus client.

const coreConfig = `
router {
  listen = "127.0.0.1:0"
  realm "realm1" {}
}

component "add2" {
  source = "` + "EXAMPLES" + `/add2"
  register "com.myapp.add2" { handler = "Add2" }
}

component "counter" {
  source = "EXAMPLES/counter"
}

component "calc" {
  source = "calc"
  register "com.test.fail"   { handler = "Fail" }
  register "com.test.panic"  { handler = "Panic" }
  register "com.test.slow"   { handler = "Slow" }
  register "com.test.echo"   { handler = "Echo" }
  register "com.test.point"  { handler = "Point" }
  register "com.test.greet"  { handler = "Greet" }
  register "com.test.full"   { handler = "Full" }
  register "com.test.sum"    { handler = "Sum" }
  register "com.test.pair"   { handler = "Pair" }
  subscribe "com.test.tick"  { handler = "OnTick" }
}
`

const calcScript = `package calc

import (
	"context"
	"strings"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

func Fail(reason string) error {
	return wamp.NewError("com.test.error.refused", reason, 42).WithKwargs(map[string]any{"why": reason})
}

func Panic() int {
	var m map[string]int
	m["boom"] = 1
	return 0
}

var log wamp.Logger

func OnJoin(ctx context.Context, s wamp.Session) error {
	log = s.Log()
	return nil
}

func Slow(ctx context.Context, ms int) (string, error) {
	log.Info("invocation started", "ms", ms)
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "done", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func Echo(s string, n int, f float64, b bool, xs []int) (string, int, float64, bool, []int) {
	return s, n, f, b, xs
}

type point struct {
	X     int    ` + "`json:\"x\"`" + `
	Y     int    ` + "`json:\"y\"`" + `
	label string
	Note  string ` + "`json:\"note,omitempty\"`" + `
}

func Point(x, y int) point { return point{X: x, Y: y, label: "hidden"} }

type greeting struct {
	Name  string ` + "`json:\"name\"`" + `
	Shout bool   ` + "`json:\"shout\"`" + `
}

func Greet(g greeting) string {
	s := "hello " + g.Name
	if g.Shout {
		s = strings.ToUpper(s)
	}
	return s
}

func Full(ctx context.Context, inv *wamp.Invocation) (wamp.Result, error) {
	return wamp.Result{Args: []any{inv.Procedure, len(inv.Args)}, Kwargs: map[string]any{"kw": len(inv.Kwargs)}}, nil
}

func Sum(xs ...float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func Pair(a, b string) (string, string) { return b, a }

func OnTick(ms int) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
}
`

func startCore(t *testing.T) *e2e.Daemon {
	t.Helper()
	cfg := strings.ReplaceAll(coreConfig, "EXAMPLES", filepath.ToSlash(filepath.Join(e2e.ModuleRoot(), "examples")))
	return e2e.Start(t, e2e.Files{"components.hcl": cfg, "calc/calc.go": calcScript})
}

func call(t *testing.T, c *client.Client, proc string, args nxwamp.List, kwargs nxwamp.Dict) (*nxwamp.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, proc, nil, args, kwargs, nil)
}

func rpcErr(t *testing.T, err error) *nxwamp.Error {
	t.Helper()
	var rpc client.RPCError
	if !errors.As(err, &rpc) {
		t.Fatalf("want a WAMP error, got %v", err)
	}
	return rpc.Err
}

func TestCore(t *testing.T) {
	d := startCore(t)
	c := d.Client("realm1")

	t.Run("add2", func(t *testing.T) {
		res, err := call(t, c, "com.myapp.add2", nxwamp.List{2, 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := nxwamp.AsInt64(res.Arguments[0]); got != 5 || len(res.Arguments) != 1 {
			t.Fatalf("add2(2, 3) = %v, want [5]", res.Arguments)
		}
		// JSON peers may send whole numbers as floats.
		res, err = call(t, c, "com.myapp.add2", nxwamp.List{2.0, 40.0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := nxwamp.AsInt64(res.Arguments[0]); got != 42 {
			t.Fatalf("add2(2.0, 40.0) = %v, want 42", res.Arguments)
		}
	})

	t.Run("invalid_argument", func(t *testing.T) {
		cases := []struct {
			args nxwamp.List
			want string
		}{
			{nxwamp.List{1}, "missing argument y"},
			{nxwamp.List{1, 2, 3}, "takes 2 arguments, got 3"},
			{nxwamp.List{"a", 2}, "argument x: want int, got string"},
			{nxwamp.List{1, 2.5}, "argument y: want int, got float64 2.5"},
		}
		for _, tc := range cases {
			_, err := call(t, c, "com.myapp.add2", tc.args, nil)
			we := rpcErr(t, err)
			if we.Error != "wamp.error.invalid_argument" {
				t.Errorf("add2%v: error %s, want wamp.error.invalid_argument", tc.args, we.Error)
			}
			if msg, _ := we.Arguments[0].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("add2%v: message %q does not mention %q", tc.args, msg, tc.want)
			}
		}
	})

	t.Run("application error", func(t *testing.T) {
		_, err := call(t, c, "com.test.fail", nxwamp.List{"no"}, nil)
		we := rpcErr(t, err)
		if we.Error != "com.test.error.refused" {
			t.Fatalf("URI %s, want com.test.error.refused", we.Error)
		}
		if len(we.Arguments) != 2 || we.Arguments[0] != "no" {
			t.Fatalf("args %v, want [no 42]", we.Arguments)
		}
		if n, _ := nxwamp.AsInt64(we.Arguments[1]); n != 42 {
			t.Fatalf("args %v, want [no 42]", we.Arguments)
		}
		if we.ArgumentsKw["why"] != "no" {
			t.Fatalf("kwargs %v, want why=no", we.ArgumentsKw)
		}
	})

	t.Run("panic", func(t *testing.T) {
		_, err := call(t, c, "com.test.panic", nil, nil)
		we := rpcErr(t, err)
		if we.Error != "wamp.error.runtime_error" {
			t.Fatalf("URI %s, want wamp.error.runtime_error", we.Error)
		}
		d.WaitLog("handler panicked", 1, 5*time.Second)
		if !strings.Contains(d.Logs(), "calc.go:16") {
			t.Errorf("panic log does not name the script position calc.go:16:\n%s", d.Logs())
		}
		// The daemon still answers, on the same component and others.
		if _, err := call(t, c, "com.test.pair", nxwamp.List{"a", "b"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := call(t, c, "com.myapp.add2", nxwamp.List{1, 1}, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("values", func(t *testing.T) {
		res, err := call(t, c, "com.test.echo", nxwamp.List{"s", 7, 1.5, true, nxwamp.List{1, 2}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Arguments) != 5 || res.Arguments[0] != "s" || res.Arguments[3] != true {
			t.Fatalf("echo = %v", res.Arguments)
		}
		res, err = call(t, c, "com.test.point", nxwamp.List{1, 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := res.Arguments[0].(map[string]any)
		if !ok {
			t.Fatalf("point = %#v, want a dict", res.Arguments[0])
		}
		if _, leaked := p["Xlabel"]; leaked || len(p) != 2 {
			t.Fatalf("point = %v, want exactly x and y (unexported and empty omitempty fields dropped)", p)
		}
		res, err = call(t, c, "com.test.greet", nil, nxwamp.Dict{"name": "ann", "shout": true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Arguments[0] != "HELLO ANN" {
			t.Fatalf("greet = %v", res.Arguments)
		}
		res, err = call(t, c, "com.test.full", nxwamp.List{1, 2, 3}, nxwamp.Dict{"a": 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Arguments[0] != "com.test.full" || res.ArgumentsKw["kw"] == nil {
			t.Fatalf("full = %v %v", res.Arguments, res.ArgumentsKw)
		}
		res, err = call(t, c, "com.test.sum", nxwamp.List{1, 2, 3.5}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := nxwamp.AsFloat64(res.Arguments[0]); f != 6.5 {
			t.Fatalf("sum = %v", res.Arguments)
		}
		res, err = call(t, c, "com.test.pair", nxwamp.List{"a", "b"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Arguments) != 2 || res.Arguments[0] != "b" || res.Arguments[1] != "a" {
			t.Fatalf("pair = %v, want [b a]", res.Arguments)
		}
	})

	t.Run("counter events in order", func(t *testing.T) {
		sub := d.Client("realm1")
		events := make(chan int64, 16)
		if err := sub.Subscribe("com.myapp.oncounter", func(ev *nxwamp.Event) {
			n, _ := nxwamp.AsInt64(ev.Arguments[0])
			events <- n
		}, nil); err != nil {
			t.Fatal(err)
		}
		var got []int64
		deadline := time.After(10 * time.Second)
		for len(got) < 3 {
			select {
			case n := <-events:
				got = append(got, n)
			case <-deadline:
				t.Fatalf("got %v within 10s, want 3 events", got)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Fatalf("events %v are not consecutive", got)
			}
		}
	})

	t.Run("slow event handler does not delay calls", func(t *testing.T) {
		// Each tick holds the calc component's event handler for 2s.
		for i := 0; i < 3; i++ {
			if err := c.Publish("com.test.tick", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{2000}, nil); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for i := 0; i < 5; i++ {
			if _, err := call(t, c, "com.test.pair", nxwamp.List{"a", "b"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Fatalf("5 calls on the component took %s while its event handler was busy", el)
		}
	})
}

func TestShutdownLetsCallInFlightFinish(t *testing.T) {
	d := startCore(t)
	c := d.Client("realm1")
	var wg sync.WaitGroup
	var res *nxwamp.Result
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, err = call(t, c, "com.test.slow", nxwamp.List{1500}, nil)
	}()
	// The call is in flight once the handler says so.
	d.WaitLog("invocation started", 1, 5*time.Second)
	d.Signal(syscall.SIGTERM)
	wg.Wait()
	if err != nil {
		t.Fatalf("call in flight during SIGTERM failed: %v", err)
	}
	if res.Arguments[0] != "done" {
		t.Fatalf("slow = %v", res.Arguments)
	}
	if code := d.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}
