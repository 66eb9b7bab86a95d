package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

const reloadConfig = `
router {
  listen = "127.0.0.1:0"
}

component "adder" {
  source = "adder"
  register "com.myapp.add2" { handler = "Add2" }
}

component "other" {
  source = "other"
  register "com.test.other.slow" { handler = "Slow" }
}
`

func adderScript(offset int) string {
	return fmt.Sprintf(`package adder

// Add2 is version %d.
func Add2(x, y int) int { return x + y + %d }
`, offset, offset)
}

const otherScript = `package other

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var log wamp.Logger

func OnJoin(ctx context.Context, s wamp.Session) error { log = s.Log(); return nil }

func Slow(ctx context.Context, ms int) (string, error) {
	log.Info("slow call started")
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "finished", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
`

func startReloadDaemon(t *testing.T, args ...string) *e2e.Daemon {
	t.Helper()
	return e2e.Start(t, e2e.Files{
		"components.hcl": reloadConfig,
		"adder/adder.go": adderScript(0),
		"other/other.go": otherScript,
	}, args...)
}

func add2(t *testing.T, c *client.Client) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Call(ctx, "com.myapp.add2", nil, nxwamp.List{1, 2}, nil, nil)
	if err != nil {
		return 0, err
	}
	n, _ := nxwamp.AsInt64(res.Arguments[0])
	return n, nil
}

// waitServed polls add2 until it returns want, failing after timeout.
func waitServed(t *testing.T, c *client.Client, want int64, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, err := add2(t, c)
		if err != nil {
			t.Fatalf("add2 failed while waiting for %d: %v", want, err)
		}
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("add2 still returns %d %s after the save; want %d", got, timeout, want)
		}
		time.Sleep(2 * time.Millisecond) // pacing between polls, not a stand-in for a condition
	}
}

// saveByRename writes content the way many editors do: a temporary file
// renamed over the original.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"~")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// saveLikeVim mimics vim's default: probe file 4913, original renamed to a
// backup, new file written, backup removed.
func saveLikeVim(t *testing.T, path, content string) {
	t.Helper()
	dir := filepath.Dir(path)
	probe := filepath.Join(dir, "4913")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(probe)
	backup := path + "~"
	if err := os.Rename(path, backup); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(backup)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadUnderLoadDropsNoCall(t *testing.T) {
	d := startReloadDaemon(t)
	script := filepath.Join(d.Dir, "adder", "adder.go")
	control := d.Client("realm1")

	const callers = 4
	var ok, failed atomic.Int64
	var badMu sync.Mutex
	var bad []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		c := d.Client("realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := add2(t, c)
				badMu.Lock()
				switch {
				case err != nil:
					failed.Add(1)
					bad = append(bad, err.Error())
				case got != 3 && got != 1003:
					failed.Add(1)
					bad = append(bad, fmt.Sprintf("result %d belongs to no version", got))
				default:
					ok.Add(1)
				}
				badMu.Unlock()
			}
		}()
	}

	const reloads = 50
	var lat []time.Duration
	for i := 1; i <= reloads; i++ {
		offset := 1000 * (i % 2)
		switch i % 3 {
		case 0:
			writeFile(t, script, adderScript(offset))
		case 1:
			saveByRename(t, script, adderScript(offset))
		case 2:
			saveLikeVim(t, script, adderScript(offset))
		}
		lat = append(lat, waitServed(t, control, int64(3+offset), time.Second))
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed during %d reloads; first: %v", n, n+ok.Load(), reloads, bad[:min(len(bad), 5)])
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d calls made during the reloads; the load was not continuous", ok.Load())
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("%d reloads under load, %d calls, 0 failed; write-to-serving p50 %s, max %s", reloads, ok.Load(), lat[len(lat)/2], lat[len(lat)-1])
	// One log line per reload; the last may still be on its way.
	d.WaitLog("reloaded", reloads, 5*time.Second)
}

func TestBadSaveKeepsServing(t *testing.T) {
	d := startReloadDaemon(t)
	c := d.Client("realm1")
	script := filepath.Join(d.Dir, "adder", "adder.go")
	config := filepath.Join(d.Dir, "components.hcl")
	goodConfig := reloadConfig

	cases := []struct {
		name, file, content, want string
	}{
		{"syntax error", script, "package adder\n\nfunc Add2(x, y int) int { return x + }\n", "adder.go:3:"},
		{"type error", script, "package adder\n\nfunc Add2(x, y int) int { return \"no\" }\n", "adder.go:3:"},
		{"missing handler", script, "package adder\n\nfunc Sum(x, y int) int { return x + y }\n", "no exported function Add2"},
		{"wrong signature", script, "package adder\n\nfunc Add2(x, y int) chan int { return nil }\n", "cannot be sent over WAMP"},
		{"bare go statement", script, "package adder\n\nfunc Add2(x, y int) int { go func() {}(); return x + y }\n", "go statement not allowed"},
		{"invalid config", config, strings.Replace(goodConfig, `handler = "Add2"`, `handlr = "Add2"`, 1), "components.hcl:"},
		{"unknown realm", config, strings.Replace(goodConfig, `source = "adder"`, "source = \"adder\"\n  realm = \"nope\"", 1), "Unknown realm"},
	}
	version := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fails := d.LogCount("reload failed")
			writeFile(t, tc.file, tc.content)
			d.WaitLog("reload failed", fails+1, 5*time.Second)
			if !strings.Contains(d.Logs(), tc.want) {
				t.Fatalf("the failed reload's log does not mention %q", tc.want)
			}
			// Nothing running changed.
			if got, err := add2(t, c); err != nil || got != int64(3+version) {
				t.Fatalf("after a bad save add2 = %d, %v; want %d from the running version", got, err, 3+version)
			}
			// The next good save applies.
			version += 10
			if tc.file == config {
				writeFile(t, config, goodConfig)
			}
			writeFile(t, script, adderScript(version))
			waitServed(t, c, int64(3+version), 2*time.Second)
		})
	}
}

func TestDeleteAndRecreateScript(t *testing.T) {
	d := startReloadDaemon(t)
	c := d.Client("realm1")
	script := filepath.Join(d.Dir, "adder", "adder.go")
	fails := d.LogCount("reload failed")
	if err := os.Remove(script); err != nil {
		t.Fatal(err)
	}
	d.WaitLog("reload failed", fails+1, 5*time.Second)
	if got, err := add2(t, c); err != nil || got != 3 {
		t.Fatalf("with the script deleted add2 = %d, %v; want the running version's 3", got, err)
	}
	writeFile(t, script, adderScript(7))
	waitServed(t, c, 10, 2*time.Second)
}

func TestSourceDirectoryAppearsLater(t *testing.T) {
	d := startReloadDaemon(t)
	c := d.Client("realm1")
	config := filepath.Join(d.Dir, "components.hcl")
	fails := d.LogCount("reload failed")
	writeFile(t, config, reloadConfig+`
component "late" {
  source = "late"
  register "com.test.late" { handler = "Late" }
}
`)
	d.WaitLog("reload failed", fails+1, 5*time.Second) // late/ does not exist yet
	if err := os.MkdirAll(filepath.Join(d.Dir, "late"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.Dir, "late", "late.go"), "package late\n\nfunc Late() string { return \"here\" }\n")
	deadline := time.Now().Add(3 * time.Second)
	for {
		res, err := c.Call(context.Background(), "com.test.late", nil, nil, nil, nil)
		if err == nil && res.Arguments[0] == "here" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("com.test.late not served 3s after its directory appeared: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, err := add2(t, c); err != nil || got != 3 {
		t.Fatalf("add2 = %d, %v after adding a component", got, err)
	}
}

// registrationID asks the router's meta API for the registration of uri.
func registrationID(t *testing.T, c *client.Client, uri string) nxwamp.ID {
	t.Helper()
	res, err := c.Call(context.Background(), "wamp.registration.lookup", nil, nxwamp.List{uri}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id nxwamp.ID
	if len(res.Arguments) > 0 {
		id, _ = nxwamp.AsID(res.Arguments[0])
	}
	if id == 0 {
		t.Fatalf("no registration of %s: %v", uri, res.Arguments)
	}
	return id
}

// calleeSession asks the router's meta API which session serves uri.
func calleeSession(t *testing.T, c *client.Client, uri string) uint64 {
	t.Helper()
	reg := registrationID(t, c, uri)
	res, err := c.Call(context.Background(), "wamp.registration.list_callees", nil, nxwamp.List{reg}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := nxwamp.AsList(res.Arguments[0])
	if len(ids) != 1 {
		t.Fatalf("%s has callees %v, want one", uri, ids)
	}
	id, _ := nxwamp.AsID(ids[0])
	return uint64(id)
}

func TestConfigChangeLeavesOtherComponentsAlone(t *testing.T) {
	d := startReloadDaemon(t)
	c := d.Client("realm1")
	before := calleeSession(t, c, "com.test.other.slow")

	var res *nxwamp.Result
	var callErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, callErr = c.Call(context.Background(), "com.test.other.slow", nil, nxwamp.List{1500}, nil, nil)
	}()
	d.WaitLog("slow call started", 1, 5*time.Second)

	// Change component adder only: a new procedure and a new config value.
	config := filepath.Join(d.Dir, "components.hcl")
	writeFile(t, config, strings.Replace(reloadConfig, `register "com.myapp.add2" { handler = "Add2" }`,
		`register "com.myapp.add2" { handler = "Add2" }
  register "com.myapp.add2b" { handler = "Add2" }`, 1))
	d.WaitLog("reloaded", 1, 5*time.Second)
	if !strings.Contains(d.Logs(), "rebuilt adder") || strings.Contains(d.Logs(), "rebuilt adder,other") {
		t.Fatalf("want only adder rebuilt:\n%s", d.Logs())
	}
	if _, err := c.Call(context.Background(), "com.myapp.add2b", nil, nxwamp.List{1, 2}, nil, nil); err != nil {
		t.Fatalf("new registration not served: %v", err)
	}
	<-done
	if callErr != nil || res.Arguments[0] != "finished" {
		t.Fatalf("other's call in flight across adder's reload: %v %v", res, callErr)
	}
	if after := calleeSession(t, c, "com.test.other.slow"); after != before {
		t.Fatalf("other's session changed from %d to %d on a reload that did not touch it", before, after)
	}
}

func TestSIGHUPReloadsWithWatchingOff(t *testing.T) {
	d := startReloadDaemon(t, "-watch=false")
	c := d.Client("realm1")
	script := filepath.Join(d.Dir, "adder", "adder.go")
	writeFile(t, script, adderScript(5))
	// With watching off nothing changes until SIGHUP. Prove it by asking
	// the daemon to reload something else first: a second SIGHUP is the
	// only trigger there is.
	if got, _ := add2(t, c); got != 3 {
		t.Fatalf("add2 = %d before SIGHUP with -watch=false, want 3", got)
	}
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded", 1, 5*time.Second)
	waitServed(t, c, 8, time.Second)
}

func TestRealmChangeMovesTheComponent(t *testing.T) {
	config := `
router {
  listen = "127.0.0.1:0"
  realm "realm1" {}
  realm "realm2" {}
}

component "adder" {
  source = "adder"
  realm  = "REALM"
  register "com.myapp.add2" { handler = "Add2" }
}
`
	d := e2e.Start(t, e2e.Files{
		"components.hcl": strings.Replace(config, "REALM", "realm1", 1),
		"adder/adder.go": adderScript(0),
	})
	c1, c2 := d.Client("realm1"), d.Client("realm2")
	if got, err := add2(t, c1); err != nil || got != 3 {
		t.Fatalf("add2 in realm1 = %d, %v", got, err)
	}
	writeFile(t, filepath.Join(d.Dir, "components.hcl"), strings.Replace(config, "REALM", "realm2", 1))
	d.WaitLog("reloaded", 1, 5*time.Second)
	if got, err := add2(t, c2); err != nil || got != 3 {
		t.Fatalf("add2 in realm2 after the move = %d, %v", got, err)
	}
	if _, err := add2(t, c1); wampErr(err) != "wamp.error.no_such_procedure" {
		t.Fatalf("add2 in realm1 after the move: %v, want no_such_procedure", err)
	}
}

// TestSymlinkedScriptReloads: a component script that is a symbolic link to
// a file elsewhere reloads when that file is saved (the link itself does not
// change, so watching the component's directory alone would miss it).
func TestSymlinkedScriptReloads(t *testing.T) {
	d := e2e.Start(t, e2e.Files{
		"components.hcl":  reloadConfig,
		"adder/adder.go":  adderScript(0),
		"shared/adder.go": adderScript(2),
		"other/other.go":  otherScript,
	})
	c := d.Client("realm1")
	waitServed(t, c, 3, 5*time.Second)
	// The script becomes a link to shared/adder.go, swapped in atomically.
	target := filepath.Join(d.Dir, "shared", "adder.go")
	link := filepath.Join(d.Dir, "adder", ".link.tmp")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if err := os.Rename(link, filepath.Join(d.Dir, "adder", "adder.go")); err != nil {
		t.Fatal(err)
	}
	waitServed(t, c, 5, 5*time.Second)
	saveByRename(t, target, adderScript(4))
	waitServed(t, c, 7, 5*time.Second)
	writeFile(t, target, adderScript(9))
	waitServed(t, c, 12, 5*time.Second)
}

const concurrencyConfig = `
router {
  listen = "127.0.0.1:0"
}

daemon {
  watch = false
}

component "other" {
  source = "other"
  register "com.test.other.slow" {
    handler     = "Slow"
    concurrency = %d
  }
}
`

// TestConcurrencyChangeKeepsRegistration: a reload that changes only a
// registration's concurrency keeps the router registration (no gap, the
// same registration ID) and applies the new limit to the next call.
func TestConcurrencyChangeKeepsRegistration(t *testing.T) {
	d := e2e.Start(t, e2e.Files{
		"components.hcl": fmt.Sprintf(concurrencyConfig, 1),
		"other/other.go": otherScript,
	})
	c := d.Client("realm1")
	slow := func(ms int) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Call(ctx, "com.test.other.slow", nil, nxwamp.List{ms}, nil, nil)
		if err != nil {
			return "", err
		}
		s, _ := res.Arguments[0].(string)
		return s, nil
	}
	before := registrationID(t, c, "com.test.other.slow")
	holder := make(chan error, 1)
	go func() {
		_, err := slow(3000)
		holder <- err
	}()
	d.WaitLog("slow call started", 1, 5*time.Second)
	if _, err := slow(1); err == nil || !strings.Contains(err.Error(), "wamp.error.unavailable") {
		t.Fatalf("a second call over concurrency 1: %v; want wamp.error.unavailable", err)
	}
	e2e.Write(t, d.Dir, e2e.Files{"components.hcl": fmt.Sprintf(concurrencyConfig, 2)})
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded", 1, 5*time.Second)
	if after := registrationID(t, c, "com.test.other.slow"); after != before {
		t.Fatalf("registration %d became %d: the reload re-registered the procedure", before, after)
	}
	// The holder still runs; the new limit lets another call in.
	if got, err := slow(1); err != nil || got != "finished" {
		t.Fatalf("a call under the new concurrency 2: %q, %v", got, err)
	}
	if err := <-holder; err != nil {
		t.Fatalf("the call running across the reload: %v", err)
	}
}

const queueConfig = `
router {
  listen = "127.0.0.1:0"
}

daemon {
  watch = false
}

component "sub" {
  source      = "sub"
  event_queue = %d
  subscribe "com.test.tick" { handler = "OnTick" }
}
`

const queueScript = `package sub

import "time"

// OnTick is slow, so that ticks queue up behind it.
func OnTick(n int) { time.Sleep(200 * time.Millisecond) }
`

// TestEventQueueChangeApplies: a reload that changes event_queue resizes
// the queues of the subscriptions that stay (they are not made again).
func TestEventQueueChangeApplies(t *testing.T) {
	d := e2e.Start(t, e2e.Files{
		"components.hcl": fmt.Sprintf(queueConfig, 1),
		"sub/sub.go":     queueScript,
	})
	c := d.Client("realm1")
	burst := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := c.Publish("com.test.tick", nil, nxwamp.List{i}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	burst(4) // one in the handler, one queued, the rest dropped
	d.WaitLog("event queue full: event dropped: topic=com.test.tick queue=1", 1, 5*time.Second)
	e2e.Write(t, d.Dir, e2e.Files{"components.hcl": fmt.Sprintf(queueConfig, 3)})
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded", 1, 5*time.Second)
	burst(8)
	d.WaitLog("event queue full: event dropped: topic=com.test.tick queue=3", 1, 10*time.Second)
}
