package host

import (
	"context"
	"sync"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// answerTracker wraps the client side of a component's transport so that
// the host knows when the answer to an invocation has really left: the nexus
// client sends YIELD from a goroutine of its own after the handler returns,
// and a GOODBYE sent before it would make the router cancel the call
// ("callee gone"). Shutdown waits for every invocation it started to be
// answered before it leaves.
type answerTracker struct {
	nxwamp.Peer
	send chan nxwamp.Message
	done chan struct{}
	// dead closes once the connection is known lost: a network transport
	// whose writer has gone stops reading its send queue, and a send to it
	// would block the client (and every call on it) for ever.
	dead     chan struct{}
	deadOnce sync.Once

	mu     sync.Mutex
	open   map[nxwamp.ID]struct{}
	idle   chan struct{} // closed while nothing is open
	closed bool
}

func newAnswerTracker(p nxwamp.Peer) *answerTracker {
	t := &answerTracker{Peer: p, send: make(chan nxwamp.Message), done: make(chan struct{}), dead: make(chan struct{}), open: map[nxwamp.ID]struct{}{}, idle: make(chan struct{})}
	close(t.idle)
	go t.forward()
	return t
}

func (t *answerTracker) Send() chan<- nxwamp.Message { return t.send }

func (t *answerTracker) forward() {
	defer close(t.done)
	for msg := range t.send {
		var answer nxwamp.ID
		switch m := msg.(type) {
		case *nxwamp.Yield:
			if progress, _ := m.Options[nxwamp.OptProgress].(bool); !progress {
				answer = m.Request
			}
		case *nxwamp.Error:
			if m.Type == nxwamp.INVOCATION {
				answer = m.Request
			}
		}
		select {
		case t.Peer.Send() <- msg:
		case <-t.dead:
			// Dropped: the client fails the request on its own once it
			// sees the connection gone.
		}
		if answer != 0 {
			t.answered(answer)
		}
	}
}

// abandon stops handing messages to a transport whose connection is lost.
func (t *answerTracker) abandon() { t.deadOnce.Do(func() { close(t.dead) }) }

// abandonIfDone abandons the transport if done (a client's Done) is closed.
func (t *answerTracker) abandonIfDone(done <-chan struct{}) {
	select {
	case <-done:
		t.abandon()
	default:
	}
}

// started records an invocation that a handler is about to run.
func (t *answerTracker) started(req nxwamp.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.open) == 0 {
		t.idle = make(chan struct{})
	}
	t.open[req] = struct{}{}
}

func (t *answerTracker) answered(req nxwamp.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.open[req]; !ok {
		return
	}
	delete(t.open, req)
	if len(t.open) == 0 {
		close(t.idle)
	}
}

// wait returns once every started invocation has been answered, or ctx ends.
func (t *answerTracker) wait(ctx context.Context) bool {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeGrace bounds how long Close waits for queued messages to leave.
const closeGrace = 5 * time.Second

func (t *answerTracker) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	close(t.send)
	select {
	case <-t.done:
	case <-time.After(closeGrace):
		// The transport stopped taking messages (a connection that died
		// unnoticed): what is still queued cannot be delivered.
		t.abandon()
		<-t.done
	}
	t.Peer.Close()
}
