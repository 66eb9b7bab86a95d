package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
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
		name                string
		opts                nxwamp.Dict
		toClient, toScript  bool
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

var _ = math.MaxInt64
var _ = serialize.JSON
