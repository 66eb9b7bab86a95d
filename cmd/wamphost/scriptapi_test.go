package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

// These tests drive the whole script API (wamp package) through the real
// daemon and router with real clients: the scripts under
// testdata/scriptapi call, publish, subscribe, register at run time, read
// their config and log, and the tests check what reached the other side.

const scriptAPIConfig = `
daemon {
  shutdown_grace = "1s"
}

router {
  listen = "127.0.0.1:0"
  realm "realm1" {}
}

component "sa" {
  source = "sa"
  config = {
    greeting = "hello"
    limit    = 3
    ratio    = 0.5
    enabled  = true
    tags     = ["a", "b"]
    backend  = { url = "http://backend.invalid", retries = 2 }
    labels   = { team = "core" }
  }

  register "com.sa.add"         { handler = "Add" }
  register "com.sa.divide"      { handler = "Divide" }
  register "com.sa.proxy"       { handler = "Proxy" }
  register "com.sa.progressive" { handler = "Progressive" }
  register "com.sa.wait"        { handler = "Wait" }
  register "com.sa.wait_short" {
    handler = "Wait"
    timeout = "300ms"
  }
  register "com.sa.single" {
    handler     = "Wait"
    concurrency = 1
  }
  register "com.sa.whoami" {
    handler         = "Whoami"
    disclose_caller = true
  }
  register "com.sa.pattern." {
    handler = "Whoami"
    match   = "prefix"
  }
  register "com.sa..wild" {
    handler = "Whoami"
    match   = "wildcard"
  }
  register "com.sa.publish"   { handler = "Publish" }
  register "com.sa.events"    { handler = "Events" }
  register "com.sa.settings"  { handler = "Settings" }
  register "com.sa.log"       { handler = "Log" }
  register "com.sa.sessionid" { handler = "SessionID" }

  subscribe "com.sa.ev." {
    handler = "OnEvent"
    match   = "prefix"
  }
}

component "vals" {
  source = "vals"
  register "com.vals.roundtrip"  { handler = "Roundtrip" }
  register "com.vals.positional" { handler = "Positional" }
  register "com.vals.received"   { handler = "Received" }
  register "com.vals.emit"       { handler = "Emit" }
  subscribe "com.vals.in"        { handler = "OnValues" }
}
`

func scriptAPIFiles(t *testing.T, cfg string) e2e.Files {
	t.Helper()
	files := e2e.Files{"components.hcl": cfg}
	for _, name := range []string{"sa/sa.go", "vals/vals.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "scriptapi", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	return files
}

func startScriptAPI(t *testing.T) *e2e.Daemon {
	t.Helper()
	return e2e.Start(t, scriptAPIFiles(t, scriptAPIConfig), "-log-level", "debug")
}

func mustCall(t *testing.T, c *client.Client, proc string, args nxwamp.List, kwargs nxwamp.Dict) *nxwamp.Result {
	t.Helper()
	res, err := call(t, c, proc, args, kwargs)
	if err != nil {
		t.Fatalf("%s: %v", proc, err)
	}
	return res
}

func asInt(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := nxwamp.AsInt64(v)
	if !ok {
		t.Fatalf("%#v is not an integer", v)
	}
	return n
}

// dict returns result i as a dict.
func dict(t *testing.T, res *nxwamp.Result, i int) map[string]any {
	t.Helper()
	if len(res.Arguments) <= i {
		t.Fatalf("result %v has no argument %d", res.Arguments, i)
	}
	m, ok := res.Arguments[i].(map[string]any)
	if !ok {
		t.Fatalf("result %d is %#v, want a dict", i, res.Arguments[i])
	}
	return m
}

func TestScriptAPICalls(t *testing.T) {
	d := startScriptAPI(t)
	c := d.Client("realm1")

	t.Run("script calls with args and kwargs", func(t *testing.T) {
		res := mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.add", "args": nxwamp.List{2, 3}})
		out := dict(t, res, 0)
		args, _ := out["args"].([]any)
		if len(args) != 1 || asInt(t, args[0]) != 5 {
			t.Fatalf("proxy(add 2 3) = %v, want args [5]", out)
		}
		// Keyword arguments bind by parameter name.
		res = mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.add", "kwargs": nxwamp.Dict{"x": 40, "y": 2}})
		if args, _ := dict(t, res, 0)["args"].([]any); len(args) != 1 || asInt(t, args[0]) != 42 {
			t.Fatalf("proxy(add x=40 y=2) = %v, want [42]", res.Arguments)
		}
	})

	t.Run("callee error is typed in the script", func(t *testing.T) {
		res := mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.divide", "args": nxwamp.List{6, 0}})
		out := dict(t, res, 0)
		if out["as_error"] != true || out["error_uri"] != "com.sa.error.div_by_zero" || out["wrapped_uri"] != "com.sa.error.div_by_zero" || out["errors_as"] != true {
			t.Fatalf("script saw %v, want AsError, errors.As and ErrorURI (also through %%w) to find com.sa.error.div_by_zero", out)
		}
		t.Logf("ErrorURI through a script-defined wrapper type: %q", out["script_wrapper_uri"])
		args, _ := out["error_args"].([]any)
		kw, _ := out["error_kwargs"].(map[string]any)
		if len(args) != 2 || args[0] != "division by zero" || asInt(t, args[1]) != 6 || asInt(t, kw["dividend"]) != 6 {
			t.Fatalf("script saw error args %v kwargs %v, want [division by zero 6] {dividend: 6}", args, kw)
		}
		// Errors the router makes are typed the same way.
		res = mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.nobody"})
		if out := dict(t, res, 0); out["error_uri"] != "wamp.error.no_such_procedure" || out["as_error"] != true {
			t.Fatalf("calling nobody: script saw %v", out)
		}
	})

	t.Run("script call timeout option", func(t *testing.T) {
		start := time.Now()
		res := mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.wait", "args": nxwamp.List{"proxied", 30000}, "timeout_ms": 200})
		if out := dict(t, res, 0); out["error_uri"] != "wamp.error.timeout" {
			t.Fatalf("call with timeout_ms=200: script saw %v, want wamp.error.timeout", out)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("timed-out call took %s", el)
		}
		// The router interrupted the callee: its context ended.
		d.WaitLog(`wait ended: tag=proxied cause="context canceled"`, 1, 5*time.Second)
	})

	t.Run("script call disclose_me", func(t *testing.T) {
		saID := asInt(t, mustCall(t, c, "com.sa.sessionid", nil, nil).Arguments[0])
		res := mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.pattern.x", "disclose_me": true})
		who, _ := dict(t, res, 0)["args"].([]any)
		if len(who) != 1 {
			t.Fatalf("proxy(pattern.x) = %v", res.Arguments)
		}
		if m, _ := who[0].(map[string]any); asInt(t, m["caller"]) != saID {
			t.Fatalf("whoami through a disclosing script call = %v, want caller %d", who[0], saID)
		}
		res = mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.pattern.x"})
		who, _ = dict(t, res, 0)["args"].([]any)
		if m, _ := who[0].(map[string]any); asInt(t, m["caller"]) != 0 {
			t.Fatalf("whoami through a non-disclosing call on a non-disclosing registration = %v, want caller 0", who[0])
		}
	})

	t.Run("progressive results", func(t *testing.T) {
		var mu sync.Mutex
		var progress []int64
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Call(ctx, "com.sa.progressive", nil, nxwamp.List{3}, nil, func(r *nxwamp.Result) {
			mu.Lock()
			defer mu.Unlock()
			n, _ := nxwamp.AsInt64(r.Arguments[0])
			progress = append(progress, n)
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := append([]int64(nil), progress...)
		mu.Unlock()
		if !reflect.DeepEqual(got, []int64{0, 1, 2}) || asInt(t, res.Arguments[0]) != 3 || res.ArgumentsKw["wanted"] != true {
			t.Fatalf("progress %v, final %v %v; want [0 1 2] then 3 wanted=true", got, res.Arguments, res.ArgumentsKw)
		}
		// A caller that did not ask gets only the final result; the
		// handler's Progress said so with ErrNoProgress.
		res = mustCall(t, c, "com.sa.progressive", nxwamp.List{3}, nil)
		if asInt(t, res.Arguments[0]) != 3 || res.ArgumentsKw["wanted"] != false || asInt(t, res.ArgumentsKw["sent"]) != 0 {
			t.Fatalf("without progress: %v %v, want 3 wanted=false sent=0", res.Arguments, res.ArgumentsKw)
		}
		// A script caller receives progress through CallOptions.OnProgress.
		res = mustCall(t, c, "com.sa.proxy", nil, nxwamp.Dict{"procedure": "com.sa.progressive", "args": nxwamp.List{4}, "progress": true})
		out := dict(t, res, 0)
		prog, _ := out["progress"].([]any)
		if len(prog) != 4 || asInt(t, prog[3]) != 3 {
			t.Fatalf("script caller's progress = %v, want [0 1 2 3]", out)
		}
	})

	t.Run("caller cancels", func(t *testing.T) {
		cc := d.Client("realm1")
		if err := cc.SetCallCancelMode(nxwamp.CancelModeKill); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := cc.Call(ctx, "com.sa.wait", nil, nxwamp.List{"cancel-me", 60000}, nil, nil)
			errc <- err
		}()
		d.WaitLog("wait started: tag=cancel-me", 1, 5*time.Second)
		start := time.Now()
		cancel()
		d.WaitLog(`wait ended: tag=cancel-me cause="context canceled"`, 1, 5*time.Second)
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				var rpc client.RPCError
				if !errors.As(err, &rpc) || rpc.Err.Error != "wamp.error.canceled" {
					t.Fatalf("canceled call returned %v, want wamp.error.canceled", err)
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("canceled call did not return")
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("handler took %s to see the cancel", el)
		}
	})

	t.Run("caller timeout option", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Call(ctx, "com.sa.wait", nxwamp.Dict{nxwamp.OptTimeout: 200}, nxwamp.List{"caller-timeout", 60000}, nil, nil)
		if we := rpcErr(t, err); we.Error != "wamp.error.timeout" {
			t.Fatalf("error %s, want wamp.error.timeout", we.Error)
		}
		d.WaitLog(`wait ended: tag=caller-timeout cause="context canceled"`, 1, 5*time.Second)
	})

	t.Run("registration timeout", func(t *testing.T) {
		start := time.Now()
		_, err := call(t, c, "com.sa.wait_short", nxwamp.List{"reg-timeout", 60000}, nil)
		if we := rpcErr(t, err); we.Error != "wamp.error.timeout" {
			t.Fatalf("error %s, want wamp.error.timeout", we.Error)
		}
		if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
			t.Fatalf("timeout after %s, want about 300ms", el)
		}
		d.WaitLog(`wait ended: tag=reg-timeout cause="context deadline exceeded"`, 1, 5*time.Second)
		// A handler that finishes in time is unaffected.
		if res := mustCall(t, c, "com.sa.wait_short", nxwamp.List{"quick", 1}, nil); res.Arguments[0] != "finished" {
			t.Fatalf("quick call = %v", res.Arguments)
		}
		if n := d.LogCount("runaway handler"); n != 0 {
			t.Fatalf("a handler that watches its context was treated as runaway")
		}
	})

	t.Run("concurrency limit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cc := d.Client("realm1")
		errc := make(chan error, 1)
		go func() {
			_, err := cc.Call(ctx, "com.sa.single", nil, nxwamp.List{"holder", 60000}, nil, nil)
			errc <- err
		}()
		d.WaitLog("wait started: tag=holder", 1, 5*time.Second)
		start := time.Now()
		_, err := call(t, c, "com.sa.single", nxwamp.List{"second", 1}, nil)
		we := rpcErr(t, err)
		if we.Error != "wamp.error.unavailable" || time.Since(start) > 2*time.Second {
			t.Fatalf("second call over concurrency 1: %s after %s, want wamp.error.unavailable at once", we.Error, time.Since(start))
		}
		if msg, _ := we.Arguments[0].(string); !strings.Contains(msg, "concurrency limit (1 calls)") {
			t.Fatalf("message %q does not explain the limit", msg)
		}
		if d.LogCount("wait started: tag=second") != 0 {
			t.Fatal("the refused call ran")
		}
		cancel()
		<-errc
		// The slot is free again once the holder ended.
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, err := call(t, c, "com.sa.single", nxwamp.List{"after", 1}, nil)
			if err == nil && res.Arguments[0] == "finished" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slot not freed after the holder was canceled: %v", err)
			}
		}
	})

	t.Run("registration options", func(t *testing.T) {
		who := dict(t, mustCall(t, c, "com.sa.whoami", nil, nil), 0)
		if asInt(t, who["caller"]) != int64(c.ID()) || who["authrole"] != "anonymous" || who["authid"] == "" {
			t.Fatalf("disclose_caller: handler saw %v, want caller %d, role anonymous, an authid", who, c.ID())
		}
		who = dict(t, mustCall(t, c, "com.sa.pattern.deep.name", nil, nil), 0)
		if who["procedure"] != "com.sa.pattern.deep.name" || asInt(t, who["caller"]) != 0 {
			t.Fatalf("prefix registration: handler saw %v, want the called URI and no caller", who)
		}
		who = dict(t, mustCall(t, c, "com.sa.anything.wild", nil, nil), 0)
		if who["procedure"] != "com.sa.anything.wild" {
			t.Fatalf("wildcard registration: handler saw %v", who)
		}
		// Registered at run time from OnJoin with RegisterOptions.
		who = dict(t, mustCall(t, c, "com.sa.dyn.x", nil, nil), 0)
		if who["procedure"] != "com.sa.dyn.x" || asInt(t, who["caller"]) != int64(c.ID()) {
			t.Fatalf("Session.Register prefix+disclose: handler saw %v", who)
		}
	})
}

// subscriber collects events on one topic.
type subscriber struct {
	ch chan *nxwamp.Event
}

func subscribe(t *testing.T, c *client.Client, topic string, opts nxwamp.Dict) *subscriber {
	t.Helper()
	s := &subscriber{ch: make(chan *nxwamp.Event, 64)}
	if err := c.Subscribe(topic, func(ev *nxwamp.Event) { s.ch <- ev }, opts); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *subscriber) next(t *testing.T) *nxwamp.Event {
	t.Helper()
	select {
	case ev := <-s.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return nil
	}
}

func TestScriptAPIPubSub(t *testing.T) {
	d := startScriptAPI(t)
	c := d.Client("realm1")
	saID := asInt(t, mustCall(t, c, "com.sa.sessionid", nil, nil).Arguments[0])
	authid, _ := dict(t, mustCall(t, c, "com.sa.whoami", nil, nil), 0)["authid"].(string)
	sub := subscribe(t, c, "com.sa.ev.out", nil)

	// publish has the script publish to com.sa.ev.out with options, then an
	// unfiltered marker. Events from one publisher arrive in order, so once
	// the marker is here, a filtered event that was delivered is here too.
	publish := func(t *testing.T, label string, opts nxwamp.Dict) (gotClient bool, gotScript bool, ev *nxwamp.Event) {
		t.Helper()
		mustCall(t, c, "com.sa.publish", nil, nxwamp.Dict{"topic": "com.sa.ev.out", "args": nxwamp.List{label}, "options": opts})
		mustCall(t, c, "com.sa.publish", nil, nxwamp.Dict{"topic": "com.sa.ev.out", "args": nxwamp.List{"marker"}, "options": nxwamp.Dict{"include_me": true, "acknowledge": true}})
		for {
			e := sub.next(t)
			if e.Arguments[0] == "marker" {
				break
			}
			if e.Arguments[0] == label {
				gotClient, ev = true, e
			}
		}
		// The script's own subscription (com.sa.ev. prefix) saw the marker;
		// did it see the labelled event before it?
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			evs, _ := mustCall(t, c, "com.sa.events", nil, nil).Arguments[0].([]any)
			for _, e := range evs {
				m := e.(map[string]any)
				args, _ := m["args"].([]any)
				if len(args) == 1 && args[0] == label {
					gotScript = true
				}
				if len(args) == 1 && args[0] == "marker" {
					return gotClient, gotScript, ev
				}
			}
		}
		t.Fatal("the script never received its own marker event")
		return
	}

	cases := []struct {
		name               string
		opts               nxwamp.Dict
		toClient, toScript bool
	}{
		{"default excludes the publisher", nxwamp.Dict{}, true, false},
		{"include_me", nxwamp.Dict{"include_me": true}, true, true},
		{"exclude session", nxwamp.Dict{"include_me": true, "exclude": nxwamp.List{c.ID()}}, false, true},
		{"eligible session", nxwamp.Dict{"include_me": true, "eligible": nxwamp.List{c.ID()}}, true, false},
		{"exclude_authrole", nxwamp.Dict{"include_me": true, "exclude_authrole": nxwamp.List{"anonymous"}}, false, true},
		{"eligible_authrole", nxwamp.Dict{"include_me": true, "eligible_authrole": nxwamp.List{"anonymous"}}, true, false},
		{"exclude_authid", nxwamp.Dict{"include_me": true, "exclude_authid": nxwamp.List{authid}}, false, true},
		{"eligible_authid", nxwamp.Dict{"include_me": true, "eligible_authid": nxwamp.List{authid}}, true, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			toClient, toScript, _ := publish(t, fmt.Sprintf("ev-%d", i), tc.opts)
			if toClient != tc.toClient || toScript != tc.toScript {
				t.Fatalf("delivered to client %v, to script %v; want %v, %v", toClient, toScript, tc.toClient, tc.toScript)
			}
		})
	}

	t.Run("disclose_me", func(t *testing.T) {
		_, _, ev := publish(t, "disclosed", nxwamp.Dict{"disclose_me": true})
		if got, _ := nxwamp.AsInt64(ev.Details["publisher"]); got != saID {
			t.Fatalf("event details %v, want publisher %d", ev.Details, saID)
		}
		_, _, ev = publish(t, "undisclosed", nxwamp.Dict{})
		if _, ok := ev.Details["publisher"]; ok {
			t.Fatalf("undisclosed event carries publisher: %v", ev.Details)
		}
	})

	t.Run("acknowledge reports router errors", func(t *testing.T) {
		_, err := call(t, c, "com.sa.publish", nil, nxwamp.Dict{"topic": "com.sa..bad#uri", "args": nxwamp.List{1}, "options": nxwamp.Dict{"acknowledge": true}})
		if we := rpcErr(t, err); we.Error != "wamp.error.invalid_uri" {
			t.Fatalf("acknowledged publish to a bad URI: %s %v, want wamp.error.invalid_uri", we.Error, we.Arguments)
		}
		// Unacknowledged, the same publication fails silently, as in WAMP.
		mustCall(t, c, "com.sa.publish", nil, nxwamp.Dict{"topic": "com.sa..bad#uri", "args": nxwamp.List{1}})
	})

	t.Run("event details reach the script", func(t *testing.T) {
		mustCall(t, c, "com.sa.events", nil, nil) // forget earlier events
		if err := c.Publish("com.sa.ev.deep.topic", nxwamp.Dict{nxwamp.OptDiscloseMe: true, nxwamp.OptAcknowledge: true}, nxwamp.List{"x"}, nxwamp.Dict{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Publish("com.sa.dynev", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{"dyn"}, nil); err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		deadline := time.Now().Add(10 * time.Second)
		for len(got) < 2 && time.Now().Before(deadline) {
			evs, _ := mustCall(t, c, "com.sa.events", nil, nil).Arguments[0].([]any)
			for _, e := range evs {
				got = append(got, e.(map[string]any))
			}
		}
		if len(got) != 2 {
			t.Fatalf("script received %v, want 2 events", got)
		}
		// Two subscriptions deliver on their own goroutines: in either order.
		if got[0]["topic"] == "com.sa.dynev" {
			got[0], got[1] = got[1], got[0]
		}
		if got[0]["topic"] != "com.sa.ev.deep.topic" || asInt(t, got[0]["publisher"]) != int64(c.ID()) {
			t.Fatalf("pattern subscription saw %v, want the concrete topic and publisher %d", got[0], c.ID())
		}
		if kw, _ := got[0]["kwargs"].(map[string]any); kw["k"] != "v" {
			t.Fatalf("kwargs %v", got[0]["kwargs"])
		}
		if got[1]["topic"] != "com.sa.dynev" || asInt(t, got[1]["publisher"]) != 0 {
			t.Fatalf("Session.Subscribe saw %v, want topic com.sa.dynev and no publisher", got[1])
		}
	})

	t.Run("retain", func(t *testing.T) {
		// nexus v3.3.0 has no retained events: the option is accepted and
		// ignored, and get_retained gives nothing. Publishing must not fail.
		mustCall(t, c, "com.sa.publish", nil, nxwamp.Dict{"topic": "com.sa.ev.retained", "args": nxwamp.List{1}, "options": nxwamp.Dict{"retain": true, "acknowledge": true}})
	})
}

func TestScriptAPIConfigAndLog(t *testing.T) {
	d := startScriptAPI(t)
	c := d.Client("realm1")
	res := mustCall(t, c, "com.sa.settings", nil, nil)
	typed, asMap := dict(t, res, 0), dict(t, res, 1)
	want := map[string]any{
		"greeting": "hello", "limit": int64(3), "ratio": 0.5, "enabled": true,
		"tags":    []any{"a", "b"},
		"backend": map[string]any{"url": "http://backend.invalid", "retries": int64(2)},
		"labels":  map[string]any{"team": "core"},
	}
	if !reflect.DeepEqual(normalizeNumbers(typed), want) {
		t.Fatalf("typed config = %#v\nwant %#v", typed, want)
	}
	// Through a map, numbers are float64 as encoding/json decodes them.
	if asMap["limit"] != 3.0 || asMap["greeting"] != "hello" {
		t.Fatalf("map config = %v", asMap)
	}

	mustCall(t, c, "com.sa.log", nxwamp.List{"script says", 7}, nil)
	// The daemon's log reaches the test through a pipe: wait for the four
	// lines before looking at their levels.
	d.WaitLog("sa: script says", 4, 5*time.Second)
	for _, level := range []string{"[DEBUG]", "[INFO] ", "[WARN] ", "[ERROR]"} {
		found := false
		for _, l := range strings.Split(d.Logs(), "\n") {
			if strings.Contains(l, level) && strings.Contains(l, "sa: script says") && strings.Contains(l, "n=7") {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s line from the sa logger with n=7:\n%s", level, d.Logs())
		}
	}

	// Config changes reach the script on reload.
	next := strings.Replace(scriptAPIConfig, `greeting = "hello"`, `greeting = "bonjour"`, 1)
	next = strings.Replace(next, "limit    = 3", "limit    = 9", 1)
	writeFile(t, filepath.Join(d.Dir, "components.hcl"), next)
	deadline := time.Now().Add(15 * time.Second)
	for {
		typed = dict(t, mustCall(t, c, "com.sa.settings", nil, nil), 0)
		if typed["greeting"] == "bonjour" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("config after reload = %v, want greeting bonjour", typed)
		}
		d.WaitLog("reload", 1, 15*time.Second)
	}
	if asInt(t, typed["limit"]) != 9 {
		t.Fatalf("limit after reload = %v", typed["limit"])
	}
}

// normalizeNumbers makes integers int64 so that results from any
// serializer compare equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalizeNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeNumbers(e)
		}
		return out
	case float64, float32, string, bool, nil:
		return x
	}
	if n, ok := nxwamp.AsInt64(v); ok {
		return n
	}
	return v
}

// allValue is one of every kind of value, as a WAMP client sends it.
func allValue() nxwamp.Dict {
	return nxwamp.Dict{
		"nil": nil, "b": true,
		"i": int64(math.MinInt64), "i8": int64(math.MinInt8), "i16": int64(math.MaxInt16), "i32": int64(math.MinInt32), "i64": int64(math.MaxInt64),
		"u": uint64(math.MaxUint64), "u8": int64(math.MaxUint8), "u16": int64(math.MaxUint16), "u32": int64(math.MaxUint32), "u64": uint64(math.MaxUint64),
		"f32": 1.5, "f64": math.Pi,
		"s": "héllo, 世界", "bytes": serialize.BinaryData{0, 1, 2, 255},
		"list":   nxwamp.List{1, 2, 3},
		"map":    nxwamp.Dict{"a": 0.25},
		"inner":  nxwamp.Dict{"name": "in", "when": "2024-02-29T12:34:56.789Z", "ptr": 5},
		"pinner": nxwamp.Dict{"name": "p", "when": "2001-01-01T00:00:00Z", "ptr": nil, "tags": nxwamp.List{"x"}},
		"pnil":   nil,
		"t":      "2024-02-29T12:34:56.123456789+01:00",
	}
}

// checkAll checks a dict that went through a script's All struct.
func checkAll(t *testing.T, what string, v any) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: %#v is not a dict", what, v)
	}
	ints := map[string]int64{"i": math.MinInt64, "i8": math.MinInt8, "i16": math.MaxInt16, "i32": math.MinInt32, "i64": math.MaxInt64, "u8": math.MaxUint8, "u16": math.MaxUint16, "u32": math.MaxUint32}
	for k, want := range ints {
		if got, ok := nxwamp.AsInt64(m[k]); !ok || got != want {
			t.Errorf("%s: %s = %#v, want %d", what, k, m[k], want)
		}
	}
	for _, k := range []string{"u", "u64"} {
		if got, ok := m[k].(uint64); !ok || got != math.MaxUint64 {
			t.Errorf("%s: %s = %#v (%T), want uint64 max", what, k, m[k], m[k])
		}
	}
	if f, _ := nxwamp.AsFloat64(m["f32"]); f != 1.5 {
		t.Errorf("%s: f32 = %#v", what, m["f32"])
	}
	if f, _ := nxwamp.AsFloat64(m["f64"]); f != math.Pi {
		t.Errorf("%s: f64 = %#v", what, m["f64"])
	}
	if m["nil"] != nil || m["b"] != true || m["s"] != "héllo, 世界" || m["pnil"] != nil {
		t.Errorf("%s: nil/b/s/pnil = %#v %#v %#v %#v", what, m["nil"], m["b"], m["s"], m["pnil"])
	}
	if b, ok := bytesOf(m["bytes"]); !ok || !reflect.DeepEqual(b, []byte{0, 1, 2, 255}) {
		t.Errorf("%s: bytes = %#v, want []byte{0 1 2 255}", what, m["bytes"])
	}
	if l, _ := m["list"].([]any); len(l) != 3 || asInt(t, l[2]) != 3 {
		t.Errorf("%s: list = %#v", what, m["list"])
	}
	if mm, _ := m["map"].(map[string]any); mm["a"] != 0.25 {
		t.Errorf("%s: map = %#v", what, m["map"])
	}
	in, _ := m["inner"].(map[string]any)
	if in["name"] != "in" || in["when"] != "2024-02-29T12:34:56.789Z" || asInt(t, in["ptr"]) != 5 {
		t.Errorf("%s: inner = %#v", what, m["inner"])
	}
	if _, has := in["tags"]; has {
		t.Errorf("%s: inner has an omitempty field: %#v", what, in)
	}
	pin, _ := m["pinner"].(map[string]any)
	if pin["name"] != "p" || pin["ptr"] != nil || pin["when"] != "2001-01-01T00:00:00Z" {
		t.Errorf("%s: pinner = %#v", what, m["pinner"])
	}
	if tags, _ := pin["tags"].([]any); len(tags) != 1 || tags[0] != "x" {
		t.Errorf("%s: pinner.tags = %#v", what, pin["tags"])
	}
	if m["t"] != "2024-02-29T12:34:56.123456789+01:00" {
		t.Errorf("%s: t = %#v, want the same instant in RFC 3339 with its zone", what, m["t"])
	}
	if _, leaked := m["hidden"]; leaked || len(m) != 22 {
		t.Errorf("%s: %d keys %v, want the 22 exported fields and no unexported one", what, len(m), keys(m))
	}
}

// bytesOf reads binary as MessagePack and CBOR deliver it ([]byte) and as
// WAMP's JSON convention does ("\x00" + base64, which nexus's client leaves
// as a string); bare base64 or any other string is not binary.
func bytesOf(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		if strings.HasPrefix(x, "\x00") {
			b, err := base64.StdEncoding.DecodeString(x[1:])
			return b, err == nil
		}
	}
	return nil, false
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestScriptAPIValues(t *testing.T) {
	d := startScriptAPI(t)
	for name, ser := range map[string]serialize.Serialization{"json": serialize.JSON, "msgpack": serialize.MSGPACK, "cbor": serialize.CBOR} {
		t.Run(name, func(t *testing.T) {
			c := d.Client("realm1", ser)

			// Call: client -> typed struct parameter -> result -> client.
			res := mustCall(t, c, "com.vals.roundtrip", nxwamp.List{allValue()}, nil)
			checkAll(t, "roundtrip result", res.Arguments[0])

			// Positional typed parameters and results, every width.
			seven := 7
			in := nxwamp.List{nil, true, int64(math.MinInt8), int64(math.MinInt16), int64(math.MaxInt32), int64(math.MinInt64),
				int64(math.MaxUint8), int64(math.MaxUint16), int64(math.MaxUint32), uint64(math.MaxUint64),
				float64(float32(0.1)), 2.5, "s", serialize.BinaryData("raw"), "1999-12-31T23:59:59Z", seven, nxwamp.List{"a"}, nxwamp.Dict{"k": 1}}
			res = mustCall(t, c, "com.vals.positional", in, nil)
			out := res.Arguments
			if len(out) != 18 {
				t.Fatalf("positional returned %d values: %v", len(out), out)
			}
			if out[0] != nil || out[1] != true || asInt(t, out[2]) != math.MinInt8 || asInt(t, out[3]) != math.MinInt16 ||
				asInt(t, out[4]) != math.MaxInt32 || asInt(t, out[5]) != math.MinInt64 || asInt(t, out[6]) != math.MaxUint8 ||
				asInt(t, out[7]) != math.MaxUint16 || asInt(t, out[8]) != math.MaxUint32 {
				t.Errorf("positional ints = %#v", out[:9])
			}
			if u, ok := out[9].(uint64); !ok || u != math.MaxUint64 {
				t.Errorf("u64 = %#v (%T)", out[9], out[9])
			}
			if f, _ := nxwamp.AsFloat64(out[10]); float32(f) != float32(0.1) {
				t.Errorf("f32 = %#v", out[10])
			}
			if f, _ := nxwamp.AsFloat64(out[11]); f != 2.5 {
				t.Errorf("f64 = %#v", out[11])
			}
			if b, _ := bytesOf(out[13]); out[12] != "s" || string(b) != "raw" {
				t.Errorf("s, bytes = %#v %#v", out[12], out[13])
			}
			if out[14] != "1999-12-31T23:59:59Z" || asInt(t, out[15]) != 7 {
				t.Errorf("time, *int = %#v %#v", out[14], out[15])
			}
			if l, _ := out[16].([]any); len(l) != 1 || l[0] != "a" {
				t.Errorf("[]string = %#v", out[16])
			}
			if m, _ := out[17].(map[string]any); asInt(t, m["k"]) != 1 {
				t.Errorf("map = %#v", out[17])
			}
			// Out of range for the parameter's width: a clear error, no wrap-around.
			bad := append(nxwamp.List(nil), in...)
			bad[2] = 128
			_, err := call(t, c, "com.vals.positional", bad, nil)
			if we := rpcErr(t, err); we.Error != "wamp.error.invalid_argument" || !strings.Contains(fmt.Sprint(we.Arguments), "want int8") {
				t.Errorf("int8 overflow: %s %v", we.Error, we.Arguments)
			}

			// Event: client publishes -> typed event handler.
			mustCall(t, c, "com.vals.received", nil, nil)
			if err := c.Publish("com.vals.in", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{allValue()}, nil); err != nil {
				t.Fatal(err)
			}
			var got []any
			deadline := time.Now().Add(10 * time.Second)
			for len(got) == 0 && time.Now().Before(deadline) {
				got, _ = mustCall(t, c, "com.vals.received", nil, nil).Arguments[0].([]any)
			}
			if len(got) != 1 {
				t.Fatalf("script received %d events", len(got))
			}
			checkAll(t, "event received by the script", got[0])

			// Event: script publishes typed values -> client.
			sub := subscribe(t, c, "com.vals.out", nil)
			mustCall(t, c, "com.vals.emit", nxwamp.List{allValue()}, nil)
			ev := sub.next(t)
			if len(ev.Arguments) != 9 {
				t.Fatalf("emitted %d args: %v", len(ev.Arguments), ev.Arguments)
			}
			checkAll(t, "event published by the script", ev.Arguments[0])
			checkAll(t, "event kwarg published by the script", ev.ArgumentsKw["all"])
			if asInt(t, ev.Arguments[1]) != -8 || ev.Arguments[6] != nil || asInt(t, ev.Arguments[7]) != 7 || ev.Arguments[8] != nil {
				t.Errorf("emitted scalars %#v", ev.Arguments)
			}
			if u, _ := ev.Arguments[2].(uint64); u != math.MaxUint64 {
				t.Errorf("emitted uint64 %#v (%T)", ev.Arguments[2], ev.Arguments[2])
			}
			if f, _ := nxwamp.AsFloat64(ev.Arguments[3]); f != 1.5 {
				t.Errorf("emitted float32 %#v", ev.Arguments[3])
			}
			if b, _ := bytesOf(ev.Arguments[4]); !reflect.DeepEqual(b, []byte{0, 1, 255}) {
				t.Errorf("emitted bytes %#v", ev.Arguments[4])
			}
			if ev.Arguments[5] != "2024-02-29T12:34:56.123456789+01:00" || ev.ArgumentsKw["when"] != ev.Arguments[5] {
				t.Errorf("emitted time %#v / %#v", ev.Arguments[5], ev.ArgumentsKw["when"])
			}
		})
	}
}

func TestScriptAPIStopEndsHandlerContext(t *testing.T) {
	d := startScriptAPI(t)
	c := d.Client("realm1")
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "com.sa.wait", nil, nxwamp.List{"at-stop", 60000}, nil, nil)
		errc <- err
	}()
	d.WaitLog("wait started: tag=at-stop", 1, 5*time.Second)
	// Removing the component from the config stops it: its calls get
	// shutdown_grace (1s), then the handler's context ends and it returns.
	start := strings.Index(scriptAPIConfig, `component "sa"`)
	end := strings.Index(scriptAPIConfig, `component "vals"`)
	writeFile(t, filepath.Join(d.Dir, "components.hcl"), scriptAPIConfig[:start]+scriptAPIConfig[end:])
	d.WaitLog(`wait ended: tag=at-stop cause="context canceled"`, 1, 15*time.Second)
	d.WaitLog("sa leaving", 1, 5*time.Second)
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a call cut by the component's stop succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller got no answer after the component stopped")
	}
	if n := d.LogCount("runaway handler"); n != 0 {
		t.Fatal("a handler that watches its context was treated as runaway")
	}
}

// TestScriptAPIAutobahnPython has the Autobahn|Python client ask a script
// handler for progressive results, cancel a call and time one out, over
// every serializer the two share.
func TestScriptAPIAutobahnPython(t *testing.T) {
	d := startScriptAPI(t)
	c := d.Client("realm1")
	for i, ser := range interopSerializers {
		t.Run(ser, func(t *testing.T) {
			p := pythonPeer(t, "scriptapi_caller.py", d.URL, ser)
			p.WaitLine("waiting for cancel", peerWait)
			d.WaitLog("wait started: tag=py-cancel", i+1, 10*time.Second)
			if err := c.Publish("com.scriptapi.cancel_now", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nil, nil); err != nil {
				t.Fatal(err)
			}
			d.WaitLog(`wait ended: tag=py-cancel cause="context canceled"`, i+1, 10*time.Second)
			waitOK(t, p)
			lines := p.Lines()
			for _, want := range []string{
				"progress: [0, 1, 2] final: (3,) wanted: True",
				"no progress final: (3,) wanted: False",
				"timeout error: wamp.error.timeout",
				"cancel: call canceled",
			} {
				if !hasLine(lines, want) {
					t.Errorf("no line %q from the Python caller:\n%s", want, strings.Join(lines, "\n"))
				}
			}
			d.WaitLog(`wait ended: tag=py-timeout cause="context canceled"`, i+1, 10*time.Second)
		})
	}
}

const scriptTests = `
test "proxy calls another handler" {
  call "com.sa.proxy" {
    kwargs = { procedure = "com.sa.add", args = [2, 3] }
    expect { args = [{ args = [5], kwargs = null, progress = [] }] }
  }
}

test "typed errors" {
  call "com.sa.divide" {
    args = [6, 0]
    expect_error {
      uri    = "com.sa.error.div_by_zero"
      args   = ["division by zero", 6]
      kwargs = { dividend = 6 }
    }
  }
  call "com.sa.proxy" {
    kwargs = { procedure = "com.sa.divide", args = [1, 0] }
    expect { args = [{ as_error = true, errors_as = true, error_uri = "com.sa.error.div_by_zero", wrapped_uri = "com.sa.error.div_by_zero", script_wrapper_uri = "", error_args = ["division by zero", 1], error_kwargs = { dividend = 1 }, message = "com.sa.error.div_by_zero: division by zero, 1" }] }
  }
}

test "progress through a script caller" {
  call "com.sa.proxy" {
    kwargs = { procedure = "com.sa.progressive", args = [2], progress = true }
    expect { args = [{ args = [2], kwargs = { wanted = true, sent = 2 }, progress = [0, 1] }] }
  }
}

test "publications are recorded and delivered" {
  call "com.sa.publish" {
    kwargs = { topic = "com.sa.ev.x", args = [1, "two"], options = { include_me = true } }
  }
  expect_event "com.sa.ev.x" { args = [1, "two"] }
  call "com.sa.events" {
    expect { args = [[{ topic = "com.sa.ev.x", args = [1, "two"], kwargs = null, publisher = 0 }]] }
  }
}

test "config and timeouts" {
  call "com.sa.settings" {
    expect { args = [{ greeting = "hello", limit = 3, ratio = 0.5, enabled = true, tags = ["a", "b"], backend = { url = "http://backend.invalid", retries = 2 }, labels = { team = "core" } }, { greeting = "hello", limit = 3, ratio = 0.5, enabled = true, tags = ["a", "b"], backend = { url = "http://backend.invalid", retries = 2 }, labels = { team = "core" } }] }
  }
  call "com.sa.wait" {
    args    = ["t", 60000]
    timeout = "50ms"
    expect_error { uri = "wamp.error.timeout" }
  }
}

test "fails on purpose" {
  call "com.sa.add" {
    args = [1, 1]
    expect { args = [3] }
  }
  expect_event "com.sa.nothing" {}
}
`

func TestWamphostTest(t *testing.T) {
	dir := t.TempDir()
	files := scriptAPIFiles(t, scriptAPIConfig)
	files["tests/sa.hcl"] = scriptTests
	e2e.Write(t, dir, files)
	cmd := exec.Command(e2e.Binary(t), "test")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("wamphost test: %v, want exit 1 (one test fails on purpose)\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"PASS proxy calls another handler",
		"PASS typed errors",
		"PASS progress through a script caller",
		"PASS publications are recorded and delivered",
		"PASS config and timeouts",
		"FAIL fails on purpose",
		"tests/sa.hcl:55:21: call com.sa.add: args[0]: got 2, want 3",
		"tests/sa.hcl:57:3: expect_event com.sa.nothing: nothing was published there within 1s",
		"5 passed, 1 failed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}

	// -run selects tests; all passing exits 0.
	cmd = exec.Command(e2e.Binary(t), "test", "-run", "typed")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "1 passed, 0 failed") {
		t.Fatalf("wamphost test -run typed: %v\n%s", err, out)
	}
	// A broken test file is a diagnostic with its position.
	e2e.Write(t, dir, e2e.Files{"tests/sa.hcl": "test \"x\" {\n  call {\n}\n"})
	cmd = exec.Command(e2e.Binary(t), "test")
	cmd.Dir = dir
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "tests/sa.hcl:") {
		t.Fatalf("broken test file: %s", out)
	}
}
