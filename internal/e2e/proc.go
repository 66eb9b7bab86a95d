package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a peer process (a Python or Node client script) whose output the
// test reads line by line while it runs.
type Proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr strings.Builder
	notify chan struct{}
	exited chan struct{}
	outEOF chan struct{}
}

// StartProc starts cmd and collects its stdout lines and stderr. A process
// still running when the test ends is interrupted, then killed.
func StartProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, notify: make(chan struct{}, 1), exited: make(chan struct{}), outEOF: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	errDone := make(chan struct{})
	go func() {
		defer close(p.outEOF)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
			p.wake()
		}
	}()
	go func() {
		defer close(errDone)
		b, _ := io.ReadAll(errPipe)
		p.mu.Lock()
		p.stderr.Write(b)
		p.mu.Unlock()
	}()
	go func() {
		// Wait must follow the pipe readers, or it closes the pipes under them.
		<-p.outEOF
		<-errDone
		_ = cmd.Wait()
		close(p.exited)
		p.wake()
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", cmd.Args, strings.Join(p.Lines(), "\n"), p.Stderr())
		}
	})
	return p
}

func (p *Proc) wake() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Lines returns the stdout lines printed so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...)
}

// Stderr returns what the process wrote to stderr (complete once it exited).
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// WaitLine waits for a stdout line containing substr and returns it.
func (p *Proc) WaitLine(substr string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		for _, l := range p.Lines() {
			if strings.Contains(l, substr) {
				return l
			}
		}
		select {
		case <-p.notify:
		case <-deadline:
			p.t.Fatalf("%s: no line containing %q within %s", p.cmd.Args, substr, timeout)
		}
		if p.Exited() {
			for _, l := range p.Lines() {
				if strings.Contains(l, substr) {
					return l
				}
			}
			p.t.Fatalf("%s exited (%v) without printing %q", p.cmd.Args, p.cmd.ProcessState, substr)
		}
	}
}

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s", p.cmd.Args, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}
