package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// externalConfig is the repository's components.hcl moved onto an
// external router: every component joins the connection "nexus".
func externalConfig(t *testing.T, url string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e2e.ModuleRoot(), "components.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), `listen = "127.0.0.1:8080"`, `listen = "127.0.0.1:0"`, 1) + pycallerComponent
	var out strings.Builder
	for _, line := range strings.Split(cfg, "\n") {
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "component \"") {
			out.WriteString("  router = \"nexus\"\n  realm  = \"realm1\"\n")
		}
	}
	return fmt.Sprintf("connection \"nexus\" {\n  url = %q\n}\n\n", url) + out.String()
}

// TestInteropExternal runs the interop suite with every component joined
// to a standalone nexusd instead of the embedded router: Autobahn|Python
// and autobahn-js call and subscribe through nexusd, and a wamphost script
// calls a procedure the Python client registered there.
func TestInteropExternal(t *testing.T) {
	n := e2e.StartNexus(t, e2e.NexusConfig{})
	dir := t.TempDir()
	e2e.Write(t, dir, e2e.Files{"components.hcl": externalConfig(t, n.URL), "pycaller/pycaller.go": pycallerScript})
	if err := os.Symlink(filepath.Join(e2e.ModuleRoot(), "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	d := e2e.LaunchIn(t, dir)
	d.WaitReady(30 * time.Second)
	if got := d.LogCount("joined: realm=realm1 router=nexus"); got != 4 {
		t.Fatalf("%d components joined nexusd, want 4", got)
	}
	interopSuite(t, n.URL)
}

const whoamiScript = `package whoami

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var id string

func OnJoin(ctx context.Context, s wamp.Session) error {
	var cfg struct{ ID string ` + "`json:\"id\"`" + ` }
	if err := s.Config(&cfg); err != nil {
		return err
	}
	id = cfg.ID
	return nil
}

// WhoAmI answers after a short pause, so that calls are in flight on
// every daemon when one of them dies.
func WhoAmI(ctx context.Context) (string, error) {
	select {
	case <-time.After(5 * time.Millisecond):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return id, nil
}
`

func scaleDaemon(t *testing.T, url, id string) *e2e.Daemon {
	t.Helper()
	cfg := fmt.Sprintf(`router {
  listen = "127.0.0.1:0"
}

connection "cluster" {
  url        = %q
  serializer = "msgpack"
}

component "whoami" {
  router = "cluster"
  realm  = "realm1"
  source = "whoami"
  config = { id = %q }

  register "com.scale.whoami" {
    handler = "WhoAmI"
    invoke  = "roundrobin"
  }
}
`, url, id)
	return e2e.Start(t, e2e.Files{"components.hcl": cfg, "whoami/whoami.go": whoamiScript})
}

// TestScaleOut: two daemons share one registration on nexusd with
// invoke = "roundrobin"; both get calls. Killing one with SIGKILL under
// load fails at most the calls in flight on it; the rest go on, served by
// the survivor.
func TestScaleOut(t *testing.T) {
	n := e2e.StartNexus(t, e2e.NexusConfig{})
	a := scaleDaemon(t, n.URL, "a")
	scaleDaemon(t, n.URL, "b")

	c := n.Client("realm1")
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		res, err := call(t, c, "com.scale.whoami", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[res.Arguments[0].(string)]++
	}
	if seen["a"] != 10 || seen["b"] != 10 {
		t.Fatalf("roundrobin over two daemons answered %v, want 10 each", seen)
	}

	const callers = 8
	var stop atomic.Bool
	var ok, failed, afterKill, afterKillFromA, failedAfterNoticed atomic.Int64
	var killed, noticed atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < callers; i++ {
		cl := n.Client("realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				wasKilled, wasNoticed := killed.Load(), noticed.Load()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := cl.Call(ctx, "com.scale.whoami", nil, nil, nil, nil)
				cancel()
				if err != nil {
					failed.Add(1)
					if wasNoticed {
						failedAfterNoticed.Add(1)
					}
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				ok.Add(1)
				if wasKilled {
					afterKill.Add(1)
					if res.Arguments[0] == "a" {
						afterKillFromA.Add(1)
					}
				}
			}
		}()
	}
	// Let load build up on both, then kill one daemon outright.
	deadline := time.Now().Add(30 * time.Second)
	for ok.Load() < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval while callers run
	}
	a.Signal(syscall.SIGKILL)
	a.Wait(10 * time.Second)
	killed.Store(true)
	// Calls the router sent to a before it noticed a was gone may fail;
	// from the moment the router lists one callee, none may.
	for calleeCount(t, c, "com.scale.whoami") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the router still lists two callees 30s after the kill")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	noticed.Store(true)
	// The survivor serves every call from here on.
	for afterKill.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling interval while callers run
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("after SIGKILL of daemon a: %d calls failed, all sent to a before the router noticed it had gone (%d callers); %d calls ok after the kill", failed.Load(), callers, afterKill.Load())
	if n := failedAfterNoticed.Load(); n > 0 {
		t.Errorf("%d calls started after the router dropped daemon a failed: %v", n, failures)
	}
	if failed.Load() > 2*callers {
		t.Errorf("%d calls failed; only calls in flight on (or routed to) the killed daemon may: %v", failed.Load(), failures)
	}
	if afterKill.Load() < 200 {
		t.Errorf("only %d calls succeeded after the kill", afterKill.Load())
	}
	if afterKillFromA.Load() > 0 {
		t.Errorf("%d calls were answered by the killed daemon", afterKillFromA.Load())
	}
}

// calleeCount asks the router how many sessions serve uri.
func calleeCount(t *testing.T, c *client.Client, uri string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Call(ctx, "wamp.registration.lookup", nil, nxwamp.List{uri}, nil, nil)
	if err != nil || len(res.Arguments) == 0 || res.Arguments[0] == nil {
		return 0
	}
	res, err = c.Call(ctx, "wamp.registration.list_callees", nil, nxwamp.List{res.Arguments[0]}, nil, nil)
	if err != nil {
		return 0
	}
	ids, _ := nxwamp.AsList(res.Arguments[0])
	return len(ids)
}
