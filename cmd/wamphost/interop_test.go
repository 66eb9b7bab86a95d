package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

// These tests drive `wamphost run` with the real clients its users come
// from: Autobahn|Python (the seed guide's own asyncio components, run by
// ApplicationRunner) and autobahn-js, over every serializer that both the
// client and nexus speak. The scripts live in testdata/interop.

// interopSerializers are the serializers Autobahn|Python, autobahn-js and
// nexus have in common (nexus has no ubjson or flatbuffers).
var interopSerializers = []string{"json", "msgpack", "cbor"}

const (
	// peerDeadline bounds each client script (INTEROP_DEADLINE); the test
	// waits a little longer so the script's own message wins.
	peerDeadline = 30 * time.Second
	peerWait     = peerDeadline + 15*time.Second
)

// pycallerComponent is a wamphost component that calls a procedure a
// Python client registered, through its own wamp.Session.
const pycallerComponent = `
component "pycaller" {
  source = "pycaller"
  register "com.interop.go.mul" { handler = "Mul" }
}
`

const pycallerScript = `package pycaller

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var session wamp.Session

func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	return nil
}

// Mul has the Python client multiply and passes its answer (or its error)
// back unchanged.
func Mul(ctx context.Context, x, y any) (any, error) {
	res, err := session.Call(ctx, "com.interop.py.mul", x, y)
	if err != nil {
		return nil, err
	}
	return res.Arg(0), nil
}
`

func interopScript(name string) string {
	return filepath.Join(e2e.ModuleRoot(), "cmd", "wamphost", "testdata", "interop", name)
}

// startRootLike runs the repository's own components.hcl (add2, counter,
// oncounter from examples/) on a free port, plus pycaller.
func startRootLike(t *testing.T) *e2e.Daemon {
	t.Helper()
	root := e2e.ModuleRoot()
	b, err := os.ReadFile(filepath.Join(root, "components.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	const listen = `listen = "127.0.0.1:8080"`
	cfg := string(b)
	if !strings.Contains(cfg, listen) {
		t.Fatalf("components.hcl no longer contains %s; update this test's port rewrite", listen)
	}
	cfg = strings.Replace(cfg, listen, `listen = "127.0.0.1:0"`, 1) + pycallerComponent
	dir := t.TempDir()
	e2e.Write(t, dir, e2e.Files{"components.hcl": cfg, "pycaller/pycaller.go": pycallerScript})
	// The root config names its sources relative to itself.
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	d := e2e.LaunchIn(t, dir)
	d.WaitReady(30 * time.Second)
	return d
}

func pythonPeer(t *testing.T, script, url, ser string) *e2e.Proc {
	t.Helper()
	cmd := exec.Command(e2e.Python(t), "-u", interopScript(script), url, "realm1", ser)
	cmd.Env = append(os.Environ(), "INTEROP_DEADLINE="+strconv.Itoa(int(peerDeadline/time.Second)))
	return e2e.StartProc(t, cmd)
}

func nodePeer(t *testing.T, script, url, ser string) *e2e.Proc {
	t.Helper()
	nm := e2e.NodeModules(t)
	cmd := exec.Command("node", interopScript(script), url, "realm1", ser)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm, "INTEROP_DEADLINE="+strconv.Itoa(int(peerDeadline/time.Second)))
	return e2e.StartProc(t, cmd)
}

// waitOK waits for a peer script to end and fails unless it exited 0.
func waitOK(t *testing.T, p *e2e.Proc) {
	t.Helper()
	if code := p.Wait(peerWait); code != 0 {
		t.Fatalf("peer exited %d\nstdout:\n%s\nstderr:\n%s", code, strings.Join(p.Lines(), "\n"), p.Stderr())
	}
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// counterEvents extracts the counter values from lines matched by re and
// checks that at least 3 arrived, consecutive.
func counterEvents(t *testing.T, lines []string, re *regexp.Regexp) []int {
	t.Helper()
	var got []int
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatalf("event line %q: %v", l, err)
			}
			got = append(got, n)
		}
	}
	if len(got) < 3 {
		t.Fatalf("got %d counter events %v, want at least 3", len(got), got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("counter events %v are not consecutive", got)
		}
	}
	return got
}

// The guide prints events as print("event received: {0}", count).
var pyEventLine = regexp.MustCompile(`^event received: \{0\} (\d+)$`)
var jsEventLine = regexp.MustCompile(`^event received: (\d+)$`)

func TestInterop(t *testing.T) {
	d := startRootLike(t)
	interopSuite(t, d.URL)
}

// interopSuite runs the real clients against the components served at
// url: the embedded router, or an external router the components joined.
func interopSuite(t *testing.T, url string) {
	for _, ser := range interopSerializers {
		t.Run("python/"+ser+"/guide", func(t *testing.T) {
			t.Parallel()
			caller := pythonPeer(t, "guide_caller.py", url, ser)
			sub := pythonPeer(t, "guide_subscriber.py", url, ser)
			waitOK(t, caller)
			if lines := caller.Lines(); !hasLine(lines, "call result: 5") {
				t.Errorf("guide caller printed %q, want the line \"call result: 5\"", lines)
			}
			waitOK(t, sub)
			counterEvents(t, sub.Lines(), pyEventLine)
		})

		t.Run("js/"+ser, func(t *testing.T) {
			t.Parallel()
			p := nodePeer(t, "js_client.js", url, ser)
			waitOK(t, p)
			lines := p.Lines()
			if !hasLine(lines, "call result: 5") {
				t.Errorf("autobahn-js printed %q, want the line \"call result: 5\"", lines)
			}
			if len(lines) == 0 || !strings.HasSuffix(lines[0], " wamp.2."+ser) {
				t.Errorf("autobahn-js printed %q first, want its session on wamp.2.%s", lines, ser)
			}
			counterEvents(t, lines, jsEventLine)
		})
	}

	// Each Python callee registers the same URI, so they take turns.
	t.Run("wamphost calls python", func(t *testing.T) {
		t.Parallel()
		c := e2e.Connect(t, url, "realm1")
		for _, ser := range interopSerializers {
			t.Run(ser, func(t *testing.T) {
				py := pythonPeer(t, "py_callee.py", url, ser)
				py.WaitLine("procedure registered", peerWait)

				res, err := call(t, c, "com.interop.go.mul", nxwamp.List{6, 7}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, ok := nxwamp.AsInt64(res.Arguments[0]); !ok || got != 42 || len(res.Arguments) != 1 {
					t.Fatalf("com.interop.go.mul(6, 7) = %v, want [42]", res.Arguments)
				}
				py.WaitLine("mul called: 6 7", 5*time.Second)

				// An ApplicationError raised in Python reaches the caller
				// through the wamphost component with its URI and args.
				_, err = call(t, c, "com.interop.go.mul", nxwamp.List{-1, 7}, nil)
				we := rpcErr(t, err)
				if we.Error != "com.interop.error.negative" {
					t.Fatalf("error URI %s, want com.interop.error.negative", we.Error)
				}
				if len(we.Arguments) != 3 || we.Arguments[0] != "negative factor" {
					t.Fatalf("error args %v, want [negative factor -1 7]", we.Arguments)
				}

				if err := c.Publish("com.interop.py.stop", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nil, nil); err != nil {
					t.Fatal(err)
				}
				waitOK(t, py)
			})
		}
	})
}
