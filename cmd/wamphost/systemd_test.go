package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wamphost/wamphost/internal/e2e"
)

// notifySocket plays systemd's side of sd_notify: a unixgram socket whose
// datagrams the test reads in order.
type notifySocket struct {
	t    *testing.T
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// Unix socket paths are short (108 bytes); t.TempDir() can be long.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &notifySocket{t: t, path: path, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	return s
}

// next returns the next datagram that is not a watchdog ping, counting
// the pings it skips.
func (s *notifySocket) next(pings *int) map[string]string {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatal("notify socket closed")
			}
			if m == "WATCHDOG=1\n" {
				*pings++
				continue
			}
			if !strings.HasSuffix(m, "\n") {
				s.t.Fatalf("datagram %q does not end in a newline", m)
			}
			kv := map[string]string{}
			for _, line := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
				k, v, ok := strings.Cut(line, "=")
				if !ok {
					s.t.Fatalf("datagram line %q is not VAR=value", line)
				}
				kv[k] = v
			}
			return kv
		case <-deadline:
			s.t.Fatal("no notification within 30s")
		}
	}
}

func (s *notifySocket) expect(pings *int, key, value string) map[string]string {
	s.t.Helper()
	m := s.next(pings)
	if m[key] != value {
		s.t.Fatalf("want %s=%s, got %v", key, value, m)
	}
	return m
}

// TestSystemdNotify runs the real binary as systemd would (Type=notify,
// WatchdogSec=) and checks what it tells the service manager across start,
// a good reload, a refused reload, watchdog pings and stop.
func TestSystemdNotify(t *testing.T) {
	sock := newNotifySocket(t)
	dir := t.TempDir()
	e2e.Write(t, dir, e2e.Files{
		"components.hcl": `
router {
  listen = "127.0.0.1:0"
}
daemon {
  watch = false
}
component "add2" {
  source = "add2"
  register "com.myapp.add2" {
    handler = "Add2"
  }
}
`,
		"add2/add2.go": "package add2\n\nfunc Add2(x, y int) int { return x + y }\n",
	})
	// 200ms watchdog: a ping every 100ms.
	d := e2e.LaunchEnv(t, dir, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=200000"})
	pings := 0

	sock.expect(&pings, "STATUS", "starting 1 component(s)")
	m := sock.expect(&pings, "READY", "1")
	if !strings.HasPrefix(m["STATUS"], "serving 1 component(s)") {
		t.Fatalf("READY status %q", m["STATUS"])
	}
	// READY=1 promises that every registration is in place: the first call
	// must succeed, with no retry.
	d.WaitLog("router listening", 1, 30*time.Second)
	d.WaitReady(30 * time.Second)
	c := d.Client("realm1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := c.Call(ctx, "com.myapp.add2", nil, []any{2, 3}, nil, nil); err != nil || fmt.Sprint(res.Arguments...) != "5" {
		t.Fatalf("first call after READY=1: %v %v", res, err)
	}

	// Watchdog pings arrive without anything else happening.
	for deadline := time.Now().Add(30 * time.Second); pings < 3; {
		select {
		case msg := <-sock.msgs:
			if msg != "WATCHDOG=1\n" {
				t.Fatalf("unexpected %q while idle", msg)
			}
			pings++
		case <-time.After(time.Until(deadline)):
			t.Fatalf("only %d watchdog pings in 30s with WATCHDOG_USEC=200000", pings)
		}
	}

	// A good reload: RELOADING=1 with a monotonic timestamp, then READY=1.
	e2e.Write(t, dir, e2e.Files{"add2/add2.go": "package add2\n\nfunc Add2(x, y int) int { return x + y + 100 }\n"})
	d.Signal(syscall.SIGHUP)
	m = sock.expect(&pings, "RELOADING", "1")
	usec1, err := strconv.ParseInt(m["MONOTONIC_USEC"], 10, 64)
	if err != nil || usec1 <= 0 {
		t.Fatalf("RELOADING without a MONOTONIC_USEC: %v", m)
	}
	m = sock.expect(&pings, "READY", "1")
	if !strings.HasPrefix(m["STATUS"], "serving 1 component(s)") || strings.Contains(m["STATUS"], "FAILED") {
		t.Fatalf("status after a good reload: %q", m["STATUS"])
	}

	// A refused reload: still READY=1 (the old version serves), and the
	// status line says why.
	e2e.Write(t, dir, e2e.Files{"add2/add2.go": "package add2\n\nfunc Add2(x, y int) int { return x + }\n"})
	d.Signal(syscall.SIGHUP)
	m = sock.expect(&pings, "RELOADING", "1")
	usec2, _ := strconv.ParseInt(m["MONOTONIC_USEC"], 10, 64)
	if usec2 <= usec1 {
		t.Fatalf("MONOTONIC_USEC went from %d to %d", usec1, usec2)
	}
	m = sock.expect(&pings, "READY", "1")
	if !strings.Contains(m["STATUS"], "last reload FAILED") || !strings.Contains(m["STATUS"], "add2.go:3:") {
		t.Fatalf("status after a refused reload: %q", m["STATUS"])
	}

	// Stop: STOPPING=1, asking for the grace period on top of TimeoutStopSec.
	d.Signal(syscall.SIGTERM)
	m = sock.expect(&pings, "STOPPING", "1")
	if ext, err := strconv.ParseInt(m["EXTEND_TIMEOUT_USEC"], 10, 64); err != nil || ext < int64(10*time.Second/time.Microsecond) {
		t.Fatalf("STOPPING without a grace-sized EXTEND_TIMEOUT_USEC: %v", m)
	}
	if code := d.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	// Nothing but pings after STOPPING=1.
	for {
		select {
		case msg := <-sock.msgs:
			if msg != "WATCHDOG=1\n" {
				t.Fatalf("%q after STOPPING=1", msg)
			}
		default:
			return
		}
	}
}

// TestUnitFileVerifies checks deploy/systemd/wamphost.service with
// systemd-analyze verify, pointed at the built binary (verify insists that
// ExecStart= exists), and that it keeps the settings operations rely on.
func TestUnitFileVerifies(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(e2e.ModuleRoot(), "deploy", "systemd", "wamphost.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/usr/local/bin/wamphost reload", "Restart=on-failure", "User=wamphost",
		"WatchdogSec=", "ProtectSystem=strict", "ReadWritePaths=", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "PrivateDevices=yes"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("unit file lacks %q", want)
		}
	}
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	bin := e2e.Binary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "wamphost.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/wamphost", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify exits 0 on unknown keys and bad values, but warns about them.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "wamphost.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
