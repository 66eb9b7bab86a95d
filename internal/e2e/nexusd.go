package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
)

// NexusConfig describes a standalone nexusd router. nexusd reads its config
// as JSON; the keys here are its keys (see nexusd/etc/nexus.json in the
// nexus module). nexusd cannot configure authenticators from JSON (only
// anonymous_auth); a test that needs ticket or wampcra auth needs an
// embedded router instead.
type NexusConfig struct {
	// Realms are entries of router.realms, such as
	// {"uri": "realm2", "anonymous_auth": true, "strict_uri": true}. Empty
	// means one realm, realm1, with anonymous_auth and allow_disclose.
	Realms []map[string]any
	// RawSocket also serves WAMP over RawSocket on a free loopback port.
	RawSocket bool
	// Edit may change anything in the generated config before it is
	// written (cfg["websocket"].(map[string]any)["keep_alive"] = 5, ...).
	Edit func(cfg map[string]any)
}

// Nexus is one running nexusd process on loopback.
type Nexus struct {
	// URL is the WebSocket URL, ws://127.0.0.1:PORT/.
	URL string
	// TCPURL is the RawSocket URL, tcp://127.0.0.1:PORT, when asked for.
	TCPURL string
	// ConfigPath is the JSON config nexusd was started with.
	ConfigPath string

	t         testing.TB
	bin       string
	listeners []string
	cmd       *exec.Cmd
	mu        sync.Mutex
	logs      strings.Builder
	exited    chan struct{}
}

// StartNexus runs nexusd on free loopback ports and returns once every
// listener accepts connections. It is stopped with SIGINT (nexusd ignores
// SIGTERM) when the test ends.
func StartNexus(t testing.TB, cfg NexusConfig) *Nexus {
	t.Helper()
	bin := Nexusd(t)
	// A free port can be taken between choosing it and nexusd binding it;
	// nexusd then exits at once, so try again on fresh ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := launchNexus(t, bin, cfg)
		if err == nil {
			return n
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return nil
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func launchNexus(t testing.TB, bin string, cfg NexusConfig) (*Nexus, error) {
	t.Helper()
	wsAddr := freePort(t)
	realms := cfg.Realms
	if len(realms) == 0 {
		realms = []map[string]any{{"uri": "realm1", "anonymous_auth": true, "allow_disclose": true}}
	}
	conf := map[string]any{
		"websocket": map[string]any{"address": wsAddr},
		"router":    map[string]any{"realms": realms},
	}
	n := &Nexus{t: t, bin: bin, URL: "ws://" + wsAddr + "/"}
	listeners := []string{wsAddr}
	if cfg.RawSocket {
		tcpAddr := freePort(t)
		conf["rawsocket"] = map[string]any{"tcp_address": tcpAddr}
		n.TCPURL = "tcp://" + tcpAddr
		listeners = append(listeners, tcpAddr)
	}
	if cfg.Edit != nil {
		cfg.Edit(conf)
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatalf("nexusd config: %v", err)
	}
	n.ConfigPath = filepath.Join(t.TempDir(), "nexus.json")
	if err := os.WriteFile(n.ConfigPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	n.listeners = listeners
	if err := n.spawn(); err != nil {
		n.kill()
		return nil, err
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("nexusd log:\n%s", n.Logs())
		}
	})
	return n, nil
}

// spawn starts the nexusd process and waits until it listens.
func (n *Nexus) spawn() error {
	n.cmd = exec.Command(n.bin, "-c", n.ConfigPath)
	n.exited = make(chan struct{})
	cmd, exited := n.cmd, n.exited
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nexusd: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			n.mu.Lock()
			n.logs.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	return n.waitListening(n.listeners, 15*time.Second)
}

// Kill ends nexusd with SIGKILL, as a crash or an OOM kill would: no
// GOODBYE, sockets closed by the kernel.
func (n *Nexus) Kill() {
	n.t.Helper()
	if n.exitedNow() {
		return
	}
	n.kill()
}

// Restart starts nexusd again, after Kill or Stop, with the same config
// on the same ports, and returns once it listens.
func (n *Nexus) Restart() {
	n.t.Helper()
	if !n.exitedNow() {
		n.t.Fatal("Restart: nexusd is still running")
	}
	n.mu.Lock()
	n.logs.WriteString("--- restart ---\n")
	n.mu.Unlock()
	if err := n.spawn(); err != nil {
		n.t.Fatal(err)
	}
}

// waitListening polls each listener with a TCP connect until all accept.
// nexusd binds its listeners only after the router and realms exist, so an
// accepted connection means a HELLO will be answered.
func (n *Nexus) waitListening(addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range addrs {
		for {
			if n.exitedNow() {
				return fmt.Errorf("nexusd exited before listening on %s:\n%s", addr, n.Logs())
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nexusd not listening on %s after %s: %v\n%s", addr, timeout, err, n.Logs())
			}
			select {
			case <-tick.C:
			case <-n.exited:
			}
		}
	}
	// Another process could hold a port chosen as free; nexusd then exits
	// on its own. Its log names every listener it bound.
	for _, addr := range addrs {
		for !strings.Contains(n.Logs(), addr) {
			if n.exitedNow() {
				return fmt.Errorf("nexusd exited:\n%s", n.Logs())
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nexusd never logged listening on %s:\n%s", addr, n.Logs())
			}
			select {
			case <-tick.C:
			case <-n.exited:
			}
		}
	}
	return nil
}

func (n *Nexus) exitedNow() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

func (n *Nexus) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// Logs returns everything nexusd printed so far.
func (n *Nexus) Logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.logs.String()
}

// Stop interrupts nexusd and waits for it to exit. A router that does not
// stop cleanly within 10s fails the test and is killed.
func (n *Nexus) Stop() {
	if n.exitedNow() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-n.exited:
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			n.t.Errorf("nexusd exited with code %d after SIGINT", code)
		}
	case <-time.After(10 * time.Second):
		n.t.Errorf("nexusd did not stop within 10s of SIGINT")
		n.kill()
	}
}

// Client joins realm over WebSocket with a nexus client (JSON unless a
// serialization is given), closed when the test ends.
func (n *Nexus) Client(realm string, ser ...serialize.Serialization) *client.Client {
	n.t.Helper()
	return Connect(n.t, n.URL, realm, ser...)
}
