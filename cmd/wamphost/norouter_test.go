package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

const plusScript = `package %s

func Add(x, y int) int { return x + y }
`

// TestDaemonWithoutEmbeddedRouter runs `wamphost run` on a config with no
// router block whose components all join nexusd instances: the daemon
// opens no WAMP port of its own and still logs "ready". Then one
// component's router dies and the component gives up after max_retries:
// the daemon logs it, stays up, keeps serving the other component, and
// answers /readyz with 503 naming the one that gave up, until SIGHUP
// retries it once its router is back.
func TestDaemonWithoutEmbeddedRouter(t *testing.T) {
	n1 := e2e.StartNexus(t, e2e.NexusConfig{})
	n2 := e2e.StartNexus(t, e2e.NexusConfig{})
	cfg := fmt.Sprintf(`
daemon {
  watch          = false
  metrics_listen = "127.0.0.1:0"
}
connection "one" {
  url = %q
  reconnect {
    initial_delay = "20ms"
    max_delay     = "50ms"
    max_retries   = 2
  }
}
connection "two" {
  url = %q
}
component "flaky" {
  router = "one"
  realm  = "realm1"
  source = "flaky"
  register "com.flaky.add" { handler = "Add" }
}
component "steady" {
  router = "two"
  realm  = "realm1"
  source = "steady"
  register "com.steady.add" { handler = "Add" }
}
`, n1.URL, n2.URL)
	d := e2e.StartNoRouter(t, e2e.Files{
		"components.hcl":   cfg,
		"flaky/flaky.go":   fmt.Sprintf(plusScript, "flaky"),
		"steady/steady.go": fmt.Sprintf(plusScript, "steady"),
	})
	logs := d.Logs()
	if !strings.Contains(logs, "embedded router not started") || strings.Contains(logs, "router listening") || d.URL != "" {
		t.Fatalf("the daemon started its embedded router without a router block or a component on it:\n%s", logs)
	}
	if d.LogCount("embedded_router=false") != 1 {
		t.Error("the ready line does not say the embedded router is off")
	}
	// No WAMP listener: the daemon's only listening socket is the
	// metrics one.
	m := metricsURL.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", logs)
	}
	if ports := listeningPorts(t, d.Pid()); len(ports) != 1 || !strings.HasSuffix(m[1], fmt.Sprintf(":%d", ports[0])) {
		t.Errorf("the daemon listens on TCP ports %v; want only the metrics port (%s)", ports, m[1])
	}
	ops := "http://" + m[1]
	addOK := func(url, proc string) error {
		c := e2e.Connect(t, url, "realm1")
		res, err := call(t, c, proc, nxwamp.List{2, 3}, nil)
		if err != nil {
			return err
		}
		if v, _ := nxwamp.AsInt64(res.Arguments[0]); v != 5 {
			return fmt.Errorf("%s(2, 3) = %v", proc, res.Arguments)
		}
		return nil
	}
	for url, proc := range map[string]string{n1.URL: "com.flaky.add", n2.URL: "com.steady.add"} {
		if err := addOK(url, proc); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := get(t, ops+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}

	n1.Kill()
	d.WaitLog("gave up reconnecting", 1, 20*time.Second)
	line := ""
	for _, l := range strings.Split(d.Logs(), "\n") {
		if strings.Contains(l, "gave up reconnecting") {
			line = l
		}
	}
	for _, want := range []string{"[ERROR]", "flaky", "router=one", "attempts=2"} {
		if !strings.Contains(line, want) {
			t.Errorf("the give-up line %q lacks %q", line, want)
		}
	}
	if d.Exited() {
		t.Fatal("the daemon exited when a component gave up")
	}
	if err := addOK(n2.URL, "com.steady.add"); err != nil {
		t.Fatalf("the other component stopped serving: %v", err)
	}
	if code, body := get(t, ops+"/readyz"); code != 503 || !strings.Contains(body, "flaky (router one)") {
		t.Errorf("/readyz after flaky gave up: %d %q; want 503 naming flaky", code, body)
	}
	if code, _ := get(t, ops+"/healthz"); code != 200 {
		t.Errorf("/healthz after flaky gave up: %d, want 200", code)
	}

	// Back: the router returns and a reload retries.
	n1.Restart()
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded", 1, 20*time.Second)
	if err := addOK(n1.URL, "com.flaky.add"); err != nil {
		t.Fatalf("flaky after SIGHUP: %v", err)
	}
	if code, body := get(t, ops+"/readyz"); code != 200 {
		t.Errorf("/readyz after SIGHUP brought flaky back: %d %q", code, body)
	}
}

// listeningPorts lists the TCP ports pid listens on, from /proc.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	inodes := socketInodes(t, pid)
	var ports []int
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, e := range procNetListen(t, f) {
			if inodes[e.inode] {
				ports = append(ports, e.port)
			}
		}
	}
	return ports
}

// socketInodes are the inodes of pid's open sockets.
func socketInodes(t *testing.T, pid int) map[string]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	return out
}

type procListen struct {
	port  int
	inode string
}

// procNetListen reads the listening sockets of a /proc/net/tcp file.
func procNetListen(t *testing.T, file string) []procListen {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var out []procListen
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		port, err := strconv.ParseInt(hexPort, 16, 32)
		if err != nil {
			continue
		}
		out = append(out, procListen{port: int(port), inode: f[9]})
	}
	return out
}
