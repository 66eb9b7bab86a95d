// Package e2e drives the real wamphost binary for end-to-end tests: it
// builds the command once per test binary, starts daemons on free ports in
// temporary directories, waits for readiness by watching for the daemon's
// own "ready" line (never by sleeping), and connects real WebSocket clients.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/wamphost (with the race detector when the tests run
// with it) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wamphost-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wamphost")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/wamphost/wamphost/cmd/wamphost")
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ModuleRoot is the repository's root directory.
func ModuleRoot() string { return moduleRoot() }

// Daemon is one running wamphost process.
type Daemon struct {
	t   testing.TB
	cmd *exec.Cmd
	// Dir holds the config and scripts.
	Dir string
	// URL is the embedded router's WebSocket URL, read from the daemon's log.
	URL string

	mu     sync.Mutex
	logs   bytes.Buffer
	lines  []string
	notify chan struct{}
	exited chan struct{}
	err    error
}

// Files maps paths relative to the daemon's directory to contents. The
// config goes at "components.hcl".
type Files map[string]string

// Write writes files below dir.
func Write(t testing.TB, dir string, files Files) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Start writes files into a fresh directory and runs `wamphost run` there
// with extra args, waiting until it logs "ready". The daemon is stopped
// when the test ends.
func Start(t testing.TB, files Files, args ...string) *Daemon {
	t.Helper()
	d := Launch(t, files, args...)
	d.WaitReady(30 * time.Second)
	return d
}

// StartNoRouter is Start for a daemon that runs no embedded router (no
// router block, every component on a named connection): it waits for
// "ready" alone, and URL stays empty.
func StartNoRouter(t testing.TB, files Files, args ...string) *Daemon {
	t.Helper()
	d := Launch(t, files, args...)
	d.WaitLog("ready", 1, 30*time.Second)
	return d
}

// Launch is Start without waiting for readiness.
func Launch(t testing.TB, files Files, args ...string) *Daemon {
	t.Helper()
	dir := t.TempDir()
	Write(t, dir, files)
	return LaunchIn(t, dir, args...)
}

// LaunchIn runs `wamphost run` in an existing directory.
func LaunchIn(t testing.TB, dir string, args ...string) *Daemon {
	t.Helper()
	return LaunchEnv(t, dir, nil, args...)
}

// LaunchEnv is LaunchIn with extra environment variables (NAME=value),
// such as NOTIFY_SOCKET, which is otherwise cleared.
func LaunchEnv(t testing.TB, dir string, env []string, args ...string) *Daemon {
	t.Helper()
	bin := Binary(t)
	d := &Daemon{t: t, Dir: dir, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"run"}, args...)...)
	d.cmd.Dir = dir
	d.cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "JOURNAL_STREAM="), env...)
	pr, pw := io.Pipe()
	d.cmd.Stdout = pw
	d.cmd.Stderr = pw
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logsRead := make(chan struct{})
	go func() {
		defer close(logsRead)
		d.readLogs(pr)
	}()
	go func() {
		d.err = d.cmd.Wait()
		pw.Close()
		// Exited means every line the process wrote is in Logs.
		<-logsRead
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.Logs())
		}
	})
	return d
}

var listenLine = regexp.MustCompile(`router listening: url=(ws://\S+)`)

func (d *Daemon) readLogs(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		d.mu.Lock()
		d.logs.WriteString(line + "\n")
		d.lines = append(d.lines, line)
		if m := listenLine.FindStringSubmatch(line); m != nil && d.URL == "" {
			d.URL = m[1]
		}
		d.mu.Unlock()
		select {
		case d.notify <- struct{}{}:
		default:
		}
	}
}

// Logs returns everything the daemon printed so far.
func (d *Daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// LogCount counts log lines containing substr.
func (d *Daemon) LogCount(substr string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// WaitLog waits until the daemon has printed n lines containing substr.
func (d *Daemon) WaitLog(substr string, n int, timeout time.Duration) {
	d.t.Helper()
	deadline := time.After(timeout)
	for d.LogCount(substr) < n {
		select {
		case <-d.notify:
		case <-d.exited:
			if d.LogCount(substr) >= n {
				return
			}
			d.t.Fatalf("daemon exited (%v) before logging %q x%d", d.err, substr, n)
		case <-deadline:
			d.t.Fatalf("timed out after %s waiting for %q x%d in the daemon log", timeout, substr, n)
		}
	}
}

// WaitReady waits for the daemon's "ready" log line.
func (d *Daemon) WaitReady(timeout time.Duration) {
	d.t.Helper()
	d.WaitLog("ready", 1, timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.URL == "" {
		d.t.Fatal("daemon is ready but logged no router URL")
	}
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig os.Signal) {
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the daemon to exit and returns its exit code.
func (d *Daemon) Wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("daemon did not exit within %s", timeout)
	}
	return d.cmd.ProcessState.ExitCode()
}

// Exited reports whether the process has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// Stop ends the daemon with SIGTERM, then SIGKILL after 15s.
func (d *Daemon) Stop() {
	if d.Exited() {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// Pid is the daemon's process ID.
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Client connects a nexus client to the daemon's router (JSON unless a
// serialization is given) and closes it when the test ends.
func (d *Daemon) Client(realm string, ser ...serialize.Serialization) *client.Client {
	d.t.Helper()
	return Connect(d.t, d.URL, realm, ser...)
}

// Connect joins realm at url with a nexus client.
func Connect(t testing.TB, url, realm string, ser ...serialize.Serialization) *client.Client {
	t.Helper()
	cfg := client.Config{Realm: realm, ResponseTimeout: 10 * time.Second}
	if len(ser) > 0 {
		cfg.Serialization = ser[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Command returns an exec.Cmd for the built binary with args.
func Command(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(Binary(t), args...)
}
