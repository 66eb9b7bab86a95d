package host

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/internal/e2e"
	"github.com/wamphost/wamphost/loader"
)

// startTLSRouter runs an in-process host whose embedded router
// terminates TLS on a WebSocket and a RawSocket listener, with a
// certificate made for the test, beside a plain WebSocket listener for
// the test's own client. It returns the host and the CA file (the
// self-signed certificate itself).
func startTLSRouter(t *testing.T) (*testHost, string) {
	t.Helper()
	dir := shortDir(t)
	selfSigned(t, dir)
	h := startRouterHost(t, dir, `
router {
  listener "websocket" { address = "127.0.0.1:0" }
  listener "websocket" {
    address = "127.0.0.1:0"
    tls {
      cert_file = "tls/cert.pem"
      key_file  = "tls/key.pem"
    }
  }
  listener "rawsocket" {
    address = "127.0.0.1:0"
    tls {
      cert_file = "tls/cert.pem"
      key_file  = "tls/key.pem"
    }
  }
  realm "realm1" {}
}
`+calcComponent)
	return h, filepath.Join(dir, "tls", "cert.pem")
}

// TestExternalTLS attaches a component of a second host to a router that
// terminates TLS, over wss:// and tcps:// with each serializer, trusting
// the router's certificate through tls { ca_file }. Without the CA, or
// with a server name the certificate does not hold, the start fails with
// an error that names TLS; insecure_skip_verify is the only way past
// verification, and it is logged as a warning.
func TestExternalTLS(t *testing.T) {
	r, ca := startTLSRouter(t)
	plain := r.url(t, "ws://")
	urls := map[string]string{"wss": r.url(t, "wss://"), "tcps": r.url(t, "tcps://")}
	for _, scheme := range []string{"wss", "tcps"} {
		for _, ser := range []string{"json", "msgpack", "cbor"} {
			t.Run(scheme+"/ca_file/"+ser, func(t *testing.T) {
				conn := fmt.Sprintf("connection \"ext\" {\n  url = %q\n  serializer = %q\n  tls {\n    ca_file = %q\n  }\n}\n", urls[scheme], ser, ca)
				h, logs, err := startExt(t, conn, map[string]string{})
				if err != nil {
					t.Fatal(err)
				}
				if !h.comps["svc"].linkUp() {
					t.Fatal("svc is not joined after Start")
				}
				exercise(t, connect(t, plain, serialize.JSON))
				if strings.Contains(logs.String(), "insecure_skip_verify") {
					t.Error("a verified connection logged the insecure_skip_verify warning")
				}
			})
		}
		t.Run(scheme+"/no CA", func(t *testing.T) {
			conn := fmt.Sprintf("connection \"ext\" {\n  url = %q\n}\n", urls[scheme])
			_, _, err := startExt(t, conn, map[string]string{})
			if err == nil {
				t.Fatal("a host that does not trust the router's certificate started")
			}
			msg := err.Error()
			for _, want := range []string{"TLS handshake with router ext", "ca_file", "certificate"} {
				if !strings.Contains(msg, want) {
					t.Errorf("start error %q does not mention %q", msg, want)
				}
			}
		})
		t.Run(scheme+"/wrong server_name", func(t *testing.T) {
			conn := fmt.Sprintf("connection \"ext\" {\n  url = %q\n  tls {\n    ca_file = %q\n    server_name = \"router.example.com\"\n  }\n}\n", urls[scheme], ca)
			_, _, err := startExt(t, conn, map[string]string{})
			if err == nil || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "server_name") {
				t.Fatalf("start with a server name the certificate does not hold: %v; want a TLS error pointing at server_name", err)
			}
		})
		t.Run(scheme+"/insecure_skip_verify", func(t *testing.T) {
			conn := fmt.Sprintf("connection \"ext\" {\n  url = %q\n  tls {\n    insecure_skip_verify = true\n  }\n}\n", urls[scheme])
			_, logs, err := startExt(t, conn, map[string]string{})
			if err != nil {
				t.Fatal(err)
			}
			exercise(t, connect(t, plain, serialize.JSON))
			var warned bool
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "[WARN]") && strings.Contains(line, "TLS verification is off") && strings.Contains(line, "insecure_skip_verify") && strings.Contains(line, "connection=ext") {
					warned = true
				}
			}
			if !warned {
				t.Errorf("insecure_skip_verify was not logged as a warning naming the connection:\n%s", logs.String())
			}
		})
	}
	t.Run("TLS URL on a plain port", func(t *testing.T) {
		conn := fmt.Sprintf("connection \"ext\" {\n  url = %q\n  tls {\n    ca_file = %q\n  }\n}\n", strings.Replace(plain, "ws://", "wss://", 1), ca)
		_, _, err := startExt(t, conn, map[string]string{})
		if err == nil || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "does not speak TLS") {
			t.Fatalf("start against a plain WebSocket port with wss://: %v; want a TLS error saying the port does not speak TLS", err)
		}
	})
}

// startHostConfig starts a host on a components.hcl and scripts written
// into a fresh directory, logging at debug level into the returned buffer.
func startHostConfig(t *testing.T, files map[string]string) (*Host, *logBuffer, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	cfg, ds := loader.Load(filepath.Join(dir, "components.hcl"))
	if ds.HasErrors() {
		t.Fatalf("config: %v", ds)
	}
	logs := &logBuffer{}
	h := New(cfg, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h, logs, dir
}

func reloadConfig(t *testing.T, h *Host, dir, src string) *Report {
	t.Helper()
	writeFiles(t, dir, map[string]string{"components.hcl": src})
	cfg, ds := loader.Load(filepath.Join(dir, "components.hcl"))
	if ds.HasErrors() {
		t.Fatalf("config: %v", ds)
	}
	rep, err := h.Reload(context.Background(), cfg)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	return rep
}

func countLines(s, substr string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// markerScript's OnJoin fails while the file named by its config's
// "marker" exists.
const markerScript = `package svc

import (
	"context"
	"errors"
	"os"

	"github.com/wamphost/wamphost/wamp"
)

var joins int

func OnJoin(ctx context.Context, s wamp.Session) error {
	var cfg struct{ Marker string ` + "`json:\"marker\"`" + ` }
	if err := s.Config(&cfg); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Marker); err == nil {
		return errors.New("marker file present: refusing to join")
	}
	joins++
	return nil
}

func Add(a, b int) int { return a + b }

func Joins() int { return joins }
`

// TestExternalOnJoinFailsAfterRejoin: when OnJoin fails on a rejoined
// session, the declared bindings do not go live without it; the host
// leaves that session, logs the OnJoin error and tries again with the
// reconnect policy, and serves once OnJoin succeeds. Within max_retries
// it gives up like any failed reconnect, and the host is not ready until
// a reload, which retries.
func TestExternalOnJoinFailsAfterRejoin(t *testing.T) {
	n := e2e.StartNexus(t, e2e.NexusConfig{})
	marker := filepath.Join(t.TempDir(), "fail-onjoin")
	cfgFor := func(retries int, delay string) string {
		return fmt.Sprintf(`
router {
  listen = "127.0.0.1:0"
}
connection "ext" {
  url = %q
  reconnect {
    initial_delay = %q
    max_delay     = %q
    factor        = 1.0
    jitter        = 0
    max_retries   = %d
  }
}
component "svc" {
  router = "ext"
  realm  = "realm1"
  source = "svc"
  config = { marker = %q }
  register "com.ext.add"   { handler = "Add" }
  register "com.ext.joins" { handler = "Joins" }
}
`, n.URL, delay, delay, retries, marker)
	}
	// Keep modules with os allowed: the script reads the marker.
	src := cfgFor(-1, "100ms")
	src = strings.Replace(src, `source = "svc"`, "source = \"svc\"\n  allow_imports = [\"os\"]", 1)
	h, logs, dir := startHostConfig(t, map[string]string{"components.hcl": src, "svc/svc.go": markerScript})
	c := connect(t, n.URL, serialize.JSON)
	if _, err := callWithin(c, "com.ext.add", 1, 2); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n.Kill()
	eventually(t, 10*time.Second, "svc notices the lost router", func() bool { return !h.comps["svc"].linkUp() })
	n.Restart()
	eventually(t, 20*time.Second, "two OnJoin failures after reconnecting", func() bool {
		return countLines(logs.String(), "OnJoin failed after reconnecting") >= 2
	})
	// Meanwhile the declared registrations are not on the router.
	probe := connect(t, n.URL, serialize.JSON)
	if _, err := callWithin(probe, "com.ext.add", 1, 2); err == nil {
		t.Fatal("com.ext.add answered while OnJoin failed")
	}
	if line := findLine(logs.String(), "OnJoin failed after reconnecting"); !strings.Contains(line, "[ERROR]") || !strings.Contains(line, "marker file present") || !strings.Contains(line, "attempt=") {
		t.Errorf("the OnJoin failure is not logged at error level with its reason and attempt: %q", line)
	}
	if !h.Ready() {
		t.Error("a component still retrying must not turn the host unready")
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "svc serves again once OnJoin succeeds", func() bool {
		_, err := callWithin(probe, "com.ext.add", 1, 2)
		return err == nil
	})
	if res, err := callWithin(probe, "com.ext.joins"); err != nil {
		t.Fatal(err)
	} else if v, _ := nxwamp.AsInt64(res.Arguments[0]); v != 2 {
		t.Errorf("OnJoin succeeded %d times, want 2 (start and the rejoin)", v)
	}

	// Bounded retries: OnJoin failing on every attempt ends in giving up.
	reloadConfig(t, h, dir, strings.Replace(cfgFor(3, "1s"), `source = "svc"`, "source = \"svc\"\n  allow_imports = [\"os\"]", 1))
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	before := countLines(logs.String(), "OnJoin failed after reconnecting")
	n.Kill()
	eventually(t, 10*time.Second, "svc notices the lost router", func() bool { return !h.comps["svc"].linkUp() })
	n.Restart()
	eventually(t, 20*time.Second, "svc gives up", func() bool { return strings.Contains(logs.String(), "gave up reconnecting") })
	if countLines(logs.String(), "OnJoin failed after reconnecting") == before {
		t.Error("no OnJoin failure was logged before giving up")
	}
	if h.Ready() {
		t.Error("the host is ready while svc has given up")
	}
	// A reload retries; with OnJoin fixed, svc serves and the host is ready.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	rep := reloadConfig(t, h, dir, strings.Replace(cfgFor(3, "1s"), `source = "svc"`, "source = \"svc\"\n  allow_imports = [\"os\"]", 1))
	if strings.Join(rep.Rebuilt, ",") != "svc" {
		t.Errorf("reload after giving up rebuilt %v, want svc", rep.Rebuilt)
	}
	probe = connect(t, n.URL, serialize.JSON) // the first probe died with nexusd
	eventually(t, 10*time.Second, "svc serves after the reload", func() bool {
		_, err := callWithin(probe, "com.ext.add", 1, 2)
		return err == nil
	})
	if !h.Ready() {
		t.Error("the host is not ready after the reload brought svc back")
	}
}

func findLine(s, substr string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}

// calleeSession is the session ID that serves proc on the router c is
// joined to, from the router's own meta API; 0 if none does.
func calleeSession(t *testing.T, c *client.Client, proc string) nxwamp.ID {
	t.Helper()
	res, err := callWithin(c, "wamp.registration.lookup", proc)
	if err != nil {
		t.Fatalf("lookup %s: %v", proc, err)
	}
	if !nonZeroID(res) {
		return 0
	}
	res, err = callWithin(c, "wamp.registration.list_callees", res.Arguments[0])
	if err != nil {
		t.Fatalf("list_callees %s: %v", proc, err)
	}
	ids, _ := nxwamp.AsList(res.Arguments[0])
	if len(ids) != 1 {
		t.Fatalf("%s has callees %v, want one", proc, ids)
	}
	id, _ := nxwamp.AsID(ids[0])
	return id
}

const addScript = `package %s

func Add(a, b int) int { return a + b }
`

// TestReloadConnectionSettings: a reload that changes the settings of the
// connection a component joins (its serializer, then its URL, to a second
// nexusd) rebuilds that component's session: the router sees a new callee
// session and calls work. A component on another connection to the same
// router keeps its session throughout.
func TestReloadConnectionSettings(t *testing.T) {
	n1 := e2e.StartNexus(t, e2e.NexusConfig{})
	n2 := e2e.StartNexus(t, e2e.NexusConfig{})
	cfgFor := func(urlX, serX string) string {
		return fmt.Sprintf(`
router {
  listen = "127.0.0.1:0"
}
connection "cx" {
  url        = %q
  serializer = %q
}
connection "cy" {
  url = %q
}
component "x" {
  router = "cx"
  realm  = "realm1"
  source = "x"
  register "com.x.add" { handler = "Add" }
}
component "y" {
  router = "cy"
  realm  = "realm1"
  source = "y"
  register "com.y.add" { handler = "Add" }
}
`, urlX, serX, n1.URL)
	}
	h, logs, dir := startHostConfig(t, map[string]string{
		"components.hcl": cfgFor(n1.URL, "json"),
		"x/x.go":         fmt.Sprintf(addScript, "x"),
		"y/y.go":         fmt.Sprintf(addScript, "y"),
	})
	c1 := connect(t, n1.URL, serialize.JSON)
	wantAdd := func(c *client.Client, proc string) {
		t.Helper()
		res, err := callWithin(c, proc, 2, 3)
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		if v, _ := nxwamp.AsInt64(res.Arguments[0]); v != 5 {
			t.Fatalf("%s(2, 3) = %v", proc, res.Arguments)
		}
	}
	wantAdd(c1, "com.x.add")
	wantAdd(c1, "com.y.add")
	x0, y0 := calleeSession(t, c1, "com.x.add"), calleeSession(t, c1, "com.y.add")
	if uint64(x0) != uint64(h.comps["x"].cl().ID()) {
		t.Fatalf("the router's callee of com.x.add is %d, x's session is %d", x0, h.comps["x"].cl().ID())
	}

	rep := reloadConfig(t, h, dir, cfgFor(n1.URL, "msgpack"))
	if strings.Join(rep.Rebuilt, ",") != "x" {
		t.Errorf("serializer change rebuilt %v, want x", rep.Rebuilt)
	}
	wantAdd(c1, "com.x.add")
	wantAdd(c1, "com.y.add")
	x1, y1 := calleeSession(t, c1, "com.x.add"), calleeSession(t, c1, "com.y.add")
	if x1 == x0 {
		t.Errorf("x kept session %d after its connection's serializer changed", x0)
	}
	if y1 != y0 {
		t.Errorf("y's session changed from %d to %d, though its connection did not", y0, y1)
	}
	if got := h.comps["x"].config().Connection.Serializer; got != "msgpack" {
		t.Errorf("x runs with serializer %q after the reload", got)
	}

	rep = reloadConfig(t, h, dir, cfgFor(n2.URL, "msgpack"))
	if strings.Join(rep.Rebuilt, ",") != "x" {
		t.Errorf("URL change rebuilt %v, want x", rep.Rebuilt)
	}
	c2 := connect(t, n2.URL, serialize.JSON)
	wantAdd(c2, "com.x.add")
	if id := calleeSession(t, c1, "com.x.add"); id != 0 {
		t.Errorf("com.x.add is still registered on the first nexusd (session %d)", id)
	}
	if id := calleeSession(t, c1, "com.y.add"); id != y0 {
		t.Errorf("y's session changed from %d to %d on x's move", y0, id)
	}
	wantAdd(c1, "com.y.add")
	if countLines(logs.String(), "joined: realm=realm1 router=cy") != 1 {
		t.Error("y joined more than once")
	}
}

// TestNoEmbeddedRouter: with no router block and every component on a
// named connection, the embedded router does not start; a reload that adds
// a router block and a component on the embedded router starts it.
func TestNoEmbeddedRouter(t *testing.T) {
	n := e2e.StartNexus(t, e2e.NexusConfig{})
	ext := fmt.Sprintf(`
connection "ext" {
  url = %q
}
component "x" {
  router = "ext"
  realm  = "realm1"
  source = "x"
  register "com.x.add" { handler = "Add" }
}
`, n.URL)
	h, logs, dir := startHostConfig(t, map[string]string{"components.hcl": ext, "x/x.go": fmt.Sprintf(addScript, "x")})
	if h.Addr() != nil || len(h.URLs()) != 0 || h.Router() != nil {
		t.Fatalf("the embedded router runs (addr %v, urls %v) with no router block and no component on it", h.Addr(), h.URLs())
	}
	if !strings.Contains(logs.String(), "embedded router not started") || strings.Contains(logs.String(), "router listening") {
		t.Error("the log does not say the embedded router was not started")
	}
	if !h.Ready() {
		t.Error("a host without the embedded router is not ready")
	}
	c := connect(t, n.URL, serialize.JSON)
	if _, err := callWithin(c, "com.x.add", 1, 2); err != nil {
		t.Fatal(err)
	}
	// Reloads cope with no router: a script change swaps code.
	writeFiles(t, dir, map[string]string{"x/x.go": strings.Replace(fmt.Sprintf(addScript, "x"), "a + b", "a + b + 100", 1)})
	if rep := reloadConfig(t, h, dir, ext); strings.Join(rep.Rebuilt, ",") != "x" {
		t.Fatalf("reload rebuilt %v, want x", rep.Rebuilt)
	}
	if res, err := callWithin(c, "com.x.add", 1, 2); err != nil {
		t.Fatal(err)
	} else if v, _ := nxwamp.AsInt64(res.Arguments[0]); v != 103 {
		t.Fatalf("after the reload com.x.add(1, 2) = %d, want 103", v)
	}
	if h.Addr() != nil {
		t.Fatal("a reload that needs no embedded router started it")
	}

	// A component on the embedded router needs it: the reload starts it.
	writeFiles(t, dir, map[string]string{"calc/calc.go": calcScript})
	rep := reloadConfig(t, h, dir, ext+"router {\n  listen = \"127.0.0.1:0\"\n}\n"+calcComponent)
	if strings.Join(rep.Started, ",") != "calc" {
		t.Fatalf("reload started %v, want calc", rep.Started)
	}
	if h.Addr() == nil {
		t.Fatal("the embedded router did not start when a component joined it")
	}
	wantSum(t, mustDial(t, h.URLs()[0], client.Config{}))
	if _, err := callWithin(c, "com.x.add", 1, 2); err != nil {
		t.Fatal(err)
	}
}

// TestReadyzGaveUp: /readyz answers 503 naming a component that gave up
// reconnecting, while /healthz stays 200 and other components serve.
func TestReadyzGaveUp(t *testing.T) {
	n := e2e.StartNexus(t, e2e.NexusConfig{})
	src := fmt.Sprintf(`
router {
  listen = "127.0.0.1:0"
}
connection "ext" {
  url = %q
  reconnect {
    initial_delay = "20ms"
    max_delay     = "50ms"
    max_retries   = 2
  }
}
component "x" {
  router = "ext"
  realm  = "realm1"
  source = "x"
  register "com.x.add" { handler = "Add" }
}
`, n.URL) + calcComponent
	h, logs, _ := startHostConfig(t, map[string]string{"components.hcl": src, "x/x.go": fmt.Sprintf(addScript, "x"), "calc/calc.go": calcScript})
	handler := h.Handler(nil)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d %s", code, body)
	}
	n.Kill()
	eventually(t, 10*time.Second, "x gives up", func() bool { return strings.Contains(logs.String(), "gave up reconnecting") })
	if got := countLines(logs.String(), "reconnect failed"); got != 2 {
		t.Errorf("%d failed reconnect attempts logged, want max_retries = 2", got)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "x (router ext)") {
		t.Errorf("/readyz after x gave up: %d %q; want 503 naming x", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after x gave up: %d, want 200", code)
	}
	wantSum(t, mustDial(t, h.URLs()[0], client.Config{}))
	s := &session{c: h.comps["x"]}
	if err := s.connected(); err == nil || !strings.Contains(err.Error(), "gave up after 2 attempts") {
		t.Errorf("a script call of x gets %v; want it to say x gave up", err)
	}
}
