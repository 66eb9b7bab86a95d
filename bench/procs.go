package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// proc is one server process of the benchmark: wamphost, nexusd, a
// compiled baseline or a callee. Readiness is a line it prints, never a
// sleep.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	stopSig os.Signal

	mu     sync.Mutex
	lines  []string
	notify chan struct{}
	exited chan struct{}
}

func startProc(name, dir string, stopSig os.Signal, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, stopSig: stopSig, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=", "PYTHONUNBUFFERED=1")
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitLine waits for a line matching re and returns its submatches and
// when it was seen.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) ([]string, time.Time, error) {
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := re.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m, time.Now(), nil
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-p.exited:
			p.mu.Lock()
			done := seen == len(p.lines)
			p.mu.Unlock()
			if done {
				return nil, time.Time{}, fmt.Errorf("%s exited before printing %q:\n%s", p.name, re, p.tail())
			}
		case <-deadline:
			return nil, time.Time{}, fmt.Errorf("%s: no %q within %s:\n%s", p.name, re, timeout, p.tail())
		}
	}
}

func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.lines
	if len(l) > 20 {
		l = l[len(l)-20:]
	}
	return strings.Join(l, "\n")
}

// stop asks the process to end with its own clean signal, then kills it.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(p.stopSig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// rssBytes reads the process's resident set from /proc.
func (p *proc) rssBytes() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %s", p.name)
}

// freePort finds a loopback port for servers that cannot report the one
// they bound (nexusd).
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
