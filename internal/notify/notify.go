// Package notify speaks systemd's service notification protocol
// (sd_notify(3)): readiness, reloads, stopping, a status line and watchdog
// keep-alives, sent as datagrams to $NOTIFY_SOCKET. Outside systemd, with
// NOTIFY_SOCKET unset, every call does nothing.
package notify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends state changes to the service manager. The zero value and
// a nil *Notifier send nothing.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET; it sends nothing when the
// variable is unset or empty (not running under systemd, or Type= is not
// notify).
func FromEnv() *Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &Notifier{}
	}
	// A leading '@' names an abstract socket; the net package maps it.
	return &Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Enabled reports whether messages go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Send sends one notification made of the given VAR=value lines.
func (n *Notifier) Send(lines ...string) error {
	if !n.Enabled() {
		return nil
	}
	for _, l := range lines {
		if strings.ContainsRune(l, '\n') {
			return fmt.Errorf("notify: %q spans lines", l)
		}
	}
	// A fresh socket per message: the manager may re-create its socket
	// (daemon-reexec), and messages are rare enough not to matter.
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Ready says startup (or a reload) is complete.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1", Status(status))
}

// Reloading says a reload has begun. MONOTONIC_USEC lets systemd (253 and
// later) tell this reload from an earlier one.
func (n *Notifier) Reloading(status string) error {
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(monotonicUsec(), 10), Status(status))
}

// Stopping says shutdown has begun. extend, when positive, asks for that
// much more time than TimeoutStopSec= so that the grace period for calls
// in flight is not cut short.
func (n *Notifier) Stopping(status string, extend time.Duration) error {
	lines := []string{"STOPPING=1", Status(status)}
	if extend > 0 {
		lines = append(lines, "EXTEND_TIMEOUT_USEC="+strconv.FormatInt(extend.Microseconds(), 10))
	}
	return n.Send(lines...)
}

// SetStatus updates the one-line status that `systemctl status` shows.
func (n *Notifier) SetStatus(status string) error { return n.Send(Status(status)) }

// Status renders a STATUS= line, folding line breaks so that a multi-line
// error still fits in one.
func Status(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 400
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return "STATUS=" + s
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

// WatchdogInterval returns how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises. ok is false when the
// watchdog is off, or meant for another process ($WATCHDOG_PID).
func WatchdogInterval() (interval time.Duration, ok bool, err error) {
	s := os.Getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, false, nil
	}
	usec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || usec <= 0 {
		return 0, false, fmt.Errorf("notify: bad WATCHDOG_USEC %q", s)
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return 0, false, fmt.Errorf("notify: bad WATCHDOG_PID %q", p)
		}
		if pid != os.Getpid() {
			return 0, false, nil
		}
	}
	return time.Duration(usec) * time.Microsecond / 2, true, nil
}

// Watchdog sends WATCHDOG=1 every interval until ctx ends, as long as
// alive says the process is healthy: a wedged daemon stops petting the
// dog and systemd restarts it. It returns ctx's error.
func (n *Notifier) Watchdog(ctx context.Context, interval time.Duration, alive func() bool) error {
	if !n.Enabled() || interval <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if alive == nil || alive() {
			// A failed send is retried at the next tick: the manager may
			// be re-executing itself.
			_ = n.Send("WATCHDOG=1")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
