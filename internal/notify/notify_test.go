package notify

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen plays the service manager: a unixgram socket in a temp dir.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func recv(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestUnsetIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Send("READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestMessages(t *testing.T) {
	conn, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	n := FromEnv()
	if err := n.Ready("serving 2 components"); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, conn), "READY=1\nSTATUS=serving 2 components\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := n.Reloading("reloading"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(recv(t, conn), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") || lines[2] != "STATUS=reloading" {
		t.Fatalf("reloading: %q", lines)
	}
	usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec <= 0 {
		t.Fatalf("MONOTONIC_USEC %q", lines[1])
	}
	if err := n.Stopping("stopping", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, conn), "STOPPING=1\nSTATUS=stopping\nEXTEND_TIMEOUT_USEC=1500000\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A multi-line error still makes one STATUS line.
	if err := n.SetStatus("reload failed:\n  a.hcl:1:1: bad"); err != nil {
		t.Fatal(err)
	}
	if got, want := recv(t, conn), "STATUS=reload failed: a.hcl:1:1: bad\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := n.Send("A=1\nB=2"); err == nil {
		t.Fatal("a value with a line break was sent")
	}
}

func TestAbstractSocket(t *testing.T) {
	name := "@wamphost-notify-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skip("abstract sockets unavailable:", err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if err := FromEnv().Ready("ok"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, conn); !strings.HasPrefix(got, "READY=1\n") {
		t.Fatalf("got %q", got)
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	if _, ok, err := WatchdogInterval(); ok || err != nil {
		t.Fatalf("unset: ok %v err %v", ok, err)
	}
	t.Setenv("WATCHDOG_USEC", "3000000")
	t.Setenv("WATCHDOG_PID", "")
	if d, ok, err := WatchdogInterval(); !ok || err != nil || d != 1500*time.Millisecond {
		t.Fatalf("3s: %v %v %v", d, ok, err)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if _, ok, _ := WatchdogInterval(); ok {
		t.Fatal("watchdog meant for pid 1 was taken as ours")
	}
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, _, err := WatchdogInterval(); err == nil {
		t.Fatal("bad WATCHDOG_USEC accepted")
	}
}

func TestWatchdogPings(t *testing.T) {
	conn, path := listen(t)
	t.Setenv("NOTIFY_SOCKET", path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var checks atomic.Int32
	go func() {
		// Unhealthy for the first three ticks: no ping may go out then.
		done <- FromEnv().Watchdog(ctx, 5*time.Millisecond, func() bool { return checks.Add(1) > 3 })
	}()
	for i := 0; i < 3; i++ {
		if got := recv(t, conn); got != "WATCHDOG=1\n" {
			t.Fatalf("ping %d: %q", i, got)
		}
		if i == 0 && checks.Load() < 4 {
			t.Fatalf("pinged after %d health checks, while unhealthy", checks.Load())
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Watchdog returned %v", err)
	}
}
