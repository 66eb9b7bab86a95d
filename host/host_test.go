package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wamphost/wamphost/loader"
)

// These tests run a Host in process, so that they can count its
// goroutines; clients still reach it over a real WebSocket.

const leakConfig = `
router {
  listen = "127.0.0.1:0"
}
daemon {
  call_timeout = "200ms"
}
component "worker" {
  source = "worker"
  register "com.leak.add"   { handler = "Add" }
  register "com.leak.spin"  { handler = "Spin" }
  register "com.leak.boom"  { handler = "Boom" }
  subscribe "com.leak.tick" { handler = "Tick" }
}
`

func workerScript(version int) string {
	return fmt.Sprintf(`package worker

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

func OnJoin(ctx context.Context, s wamp.Session) error {
	s.Go(func(ctx context.Context) {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}

func Add(x, y int) int { return x + y + %d }

func Spin() int { for {} }

func Boom() int { panic("boom") }

func Tick(n int) {}
`, version)
}

func startHost(t testing.TB, dir string) (*Host, *client.Client) {
	t.Helper()
	cfg, ds := loader.Load(filepath.Join(dir, "components.hcl"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	h := New(cfg, Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	url := fmt.Sprintf("ws://%s/ws", h.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, client.Config{Realm: "realm1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return h, c
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func callInt(t testing.TB, c *client.Client, proc string, args ...any) (int64, string) {
	t.Helper()
	res, err := c.Call(context.Background(), proc, nil, args, nil, nil)
	if err != nil {
		var rpc client.RPCError
		if ok := asRPC(err, &rpc); ok {
			return 0, string(rpc.Err.Error)
		}
		t.Fatal(err)
	}
	n, _ := nxwamp.AsInt64(res.Arguments[0])
	return n, ""
}

func asRPC(err error, rpc *client.RPCError) bool {
	e, ok := err.(client.RPCError)
	if ok {
		*rpc = e
	}
	return ok
}

// waitGoroutines polls until the goroutine count is at most want.
func waitGoroutines(t *testing.T, want int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return n
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d after %s:\n%s", n, want, timeout, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoGoroutineLeaks(t *testing.T) {
	h, c, script := startWorkerIn(t)
	dir := filepath.Dir(filepath.Dir(script))

	// Warm up every path once, then take the baseline.
	if n, _ := callInt(t, c, "com.leak.add", 1, 2); n != 3 {
		t.Fatalf("add = %d", n)
	}
	baseline := waitGoroutines(t, 1<<20, time.Second)

	cfg, _ := loader.Load(filepath.Join(dir, "components.hcl"))
	for i := 1; i <= 20; i++ {
		write(t, script, workerScript(i))
		if _, err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if n, _ := callInt(t, c, "com.leak.add", 1, 2); n != int64(3+i) {
			t.Fatalf("after reload %d add = %d", i, n)
		}
		if _, uri := callInt(t, c, "com.leak.boom"); uri != "wamp.error.runtime_error" {
			t.Fatalf("boom answered %q", uri)
		}
		if err := c.Publish("com.leak.tick", nil, nxwamp.List{i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, uri := callInt(t, c, "com.leak.spin"); uri != "wamp.error.timeout" {
			t.Fatalf("spin answered %q", uri)
		}
		// Wait for the rebuild before the next runaway.
		rebuilds := h.metrics.rebuilds.WithLabelValues("worker", "runaway")
		deadline := time.Now().Add(5 * time.Second)
		for testutil.ToFloat64(rebuilds) < float64(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("no rebuild after runaway %d", i+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Everything the reloads, panics and runaways started has ended: the
	// retired generations' helpers, drains and stopped spin loops.
	after := waitGoroutines(t, baseline+2, 15*time.Second)
	t.Logf("goroutines: baseline %d, after 20 reloads, 20 panics and 3 runaways %d", baseline, after)
}

// startWorker runs leakConfig's worker component, first version.
func startWorker(t *testing.T) (*Host, *client.Client) {
	t.Helper()
	h, c, _ := startWorkerIn(t)
	return h, c
}

// startWorkerIn is startWorker, also giving the worker's script path.
func startWorkerIn(t *testing.T) (*Host, *client.Client, string) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "components.hcl"), leakConfig)
	script := filepath.Join(dir, "worker", "worker.go")
	write(t, script, workerScript(0))
	h, c := startHost(t, dir)
	return h, c, script
}

// TestPassthruRefused: a caller or publisher using payload passthru
// cannot stop the daemon (the nexus client panics unpacking a passthru
// payload that is not bytes, as over JSON); the caller gets
// wamp.error.invalid_argument and the refusal counts as answered.
func TestPassthruRefused(t *testing.T) {
	h, c := startWorker(t)
	opts := nxwamp.Dict{nxwamp.OptPPTScheme: "x_test", nxwamp.OptPPTSerializer: "json"}
	_, err := c.Call(context.Background(), "com.leak.add", opts, nxwamp.List{2, 3}, nil, nil)
	var rpc client.RPCError
	if !asRPC(err, &rpc) || rpc.Err.Error != "wamp.error.invalid_argument" {
		t.Fatalf("passthru call answered %v; want wamp.error.invalid_argument", err)
	}
	if err := c.Publish("com.leak.tick", opts, nxwamp.List{1}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	h.mu.Lock()
	peer := h.comps["worker"].link.Load().peer
	h.mu.Unlock()
	if !peer.wait(ctx) {
		t.Fatal("the refusal was not counted as an answer: the peer still counts the invocation open")
	}
	if n, uri := callInt(t, c, "com.leak.add", 2, 3); n != 5 {
		t.Fatalf("after passthru: add(2, 3) = %d %s", n, uri)
	}
}

// TestProgressiveInvocationRefused: a caller sending its arguments in
// parts is told a handler takes them in one invocation, instead of getting
// the first part's result with the rest dropped.
func TestProgressiveInvocationRefused(t *testing.T) {
	h, c := startWorker(t)
	ran := h.metrics.calls.WithLabelValues("worker", "com.leak.add", "")
	before := testutil.ToFloat64(ran)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.mu.Lock()
	peer := h.comps["worker"].link.Load().peer
	h.mu.Unlock()
	holding := func() bool {
		peer.mu.Lock()
		defer peer.mu.Unlock()
		return len(peer.refused) == 1
	}
	// Three parts; the refusal comes with the last, so that every part
	// reaches the same invocation (once refused, nexus would make each
	// later part a call of its own, and the last would run the handler).
	// The later parts wait until the peer holds the first: an answer to it
	// would reach the caller first and end the call after one part.
	var parts atomic.Int32
	_, err := c.CallProgressive(ctx, "com.leak.add", func(ctx context.Context) (nxwamp.Dict, nxwamp.List, nxwamp.Dict, error) {
		n := parts.Add(1)
		for deadline := time.Now().Add(5 * time.Second); n > 1 && !holding(); {
			if time.Now().After(deadline) {
				return nil, nil, nil, errors.New("the peer never held the refused call")
			}
			time.Sleep(time.Millisecond) // polling interval, not a wait for a condition
		}
		if n < 3 {
			return nxwamp.Dict{nxwamp.OptProgress: true}, nxwamp.List{1, 1}, nil, nil
		}
		return nxwamp.Dict{nxwamp.OptProgress: false}, nxwamp.List{2, 3}, nil, nil
	}, nil)
	var rpc client.RPCError
	if !asRPC(err, &rpc) || rpc.Err.Error != "wamp.error.invalid_argument" {
		t.Fatalf("progressive call invocation answered %v; want wamp.error.invalid_argument", err)
	}
	if msg, _ := nxwamp.AsString(rpc.Err.Arguments[0]); !strings.Contains(msg, "progressive call invocations") {
		t.Fatalf("refused with %q; want the reason", msg)
	}
	if n := parts.Load(); n != 3 {
		t.Fatalf("answered after %d parts; want the refusal after the last of 3", n)
	}
	res, err := c.Call(ctx, "com.leak.add", nil, nxwamp.List{2, 3}, nil, nil)
	if err != nil {
		t.Fatalf("afterwards: add(2, 3): %v", err)
	}
	if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 5 {
		t.Fatalf("afterwards: add(2, 3) = %v", res.Arguments)
	}
	// Only that call ran the handler: no part of the refused one did.
	if got := testutil.ToFloat64(ran) - before; got != 1 {
		t.Fatalf("the handler ran %v times; want once (the plain call)", got)
	}
}

const runtimeSubConfig = `
router {
  listen = "127.0.0.1:0"
}
component "dyn" {
  source      = "dyn"
  event_queue = %d
  register "com.dyn.add" { handler = "Add" }
}
`

func runtimeSubScript(v int) string {
	return fmt.Sprintf(`package dyn

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

func OnJoin(ctx context.Context, s wamp.Session) error {
	return s.Subscribe("com.dyn.tick", Tick, wamp.SubscribeOptions{})
}

func Tick(n int) {}

func Add(x, y int) int { return x + y + %d }
`, v)
}

// TestReloadSizesRuntimeSubscriptions: the subscription a new OnJoin makes
// at run time gets the reloaded config's event_queue (the new OnJoin runs
// before the new config serves the declared bindings).
func TestReloadSizesRuntimeSubscriptions(t *testing.T) {
	dir := t.TempDir()
	hcl := filepath.Join(dir, "components.hcl")
	write(t, hcl, fmt.Sprintf(runtimeSubConfig, 4))
	write(t, filepath.Join(dir, "dyn", "dyn.go"), runtimeSubScript(0))
	h, _ := startHost(t, dir)
	write(t, hcl, fmt.Sprintf(runtimeSubConfig, 64))
	write(t, filepath.Join(dir, "dyn", "dyn.go"), runtimeSubScript(1))
	cfg, ds := loader.Load(hcl)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if _, err := h.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	c := h.comps["dyn"]
	h.mu.Unlock()
	g := c.current()
	g.bg.mu.Lock()
	subs := g.bg.subs
	g.bg.mu.Unlock()
	if len(subs) != 1 {
		t.Fatalf("%d run-time subscriptions, want 1", len(subs))
	}
	if got := subs[0].queue.capacity(); got != 64 {
		t.Errorf("the new OnJoin's subscription holds %d events; the reload set event_queue = 64", got)
	}
}

// TestCallsDuringReloads: calls that fail (the path that reads the
// component's config for its metrics) run while reloads swap the config;
// under -race this shows any unguarded read (it did, before the config
// became an atomic pointer), and every call is answered.
func TestCallsDuringReloads(t *testing.T) {
	h, c, script := startWorkerIn(t)
	cfg, ds := loader.Load(filepath.Join(filepath.Dir(filepath.Dir(script)), "components.hcl"))
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	stop := make(chan struct{})
	calls := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				if n == 0 {
					calls <- errors.New("no call was made")
				}
				close(calls)
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.Call(ctx, "com.leak.boom", nil, nil, nil, nil)
			cancel()
			var rpc client.RPCError
			if !asRPC(err, &rpc) {
				calls <- fmt.Errorf("call %d: %v; want the handler's error", n, err)
				close(calls)
				return
			}
			n++
		}
	}()
	for i := 1; i <= 10; i++ {
		write(t, script, workerScript(i))
		if _, err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-calls; err != nil {
		t.Fatal(err)
	}
}
