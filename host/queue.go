package host

import (
	"sync"
	"sync/atomic"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// eventQueue takes events off nexus's receive goroutine, where one slow
// handler would stall every call on the session (DESIGN.md decision 4).
// Events are delivered in order, one at a time, per subscription; when the
// queue is full the newest event is dropped and counted.
type eventQueue struct {
	ch      chan *nxwamp.Event
	quit    chan struct{}
	dropped atomic.Uint64
	deliver func(*nxwamp.Event)

	// runner is the id of the goroutine that owns delivery. A runner whose
	// handler overruns is abandoned: a fresh one takes over the queue, and
	// the old one exits once its handler returns (if ever).
	runner atomic.Uint64
	mu     sync.Mutex
	done   chan struct{} // closed when the current runner exits
	closed bool
}

func newEventQueue(size int) *eventQueue {
	return &eventQueue{ch: make(chan *nxwamp.Event, size), quit: make(chan struct{})}
}

// offer enqueues ev without blocking; false means it was dropped.
func (q *eventQueue) offer(ev *nxwamp.Event) bool {
	select {
	case q.ch <- ev:
		return true
	default:
		q.dropped.Add(1)
		return false
	}
}

// start begins delivery, one event at a time, in order.
func (q *eventQueue) start(deliver func(*nxwamp.Event)) {
	q.deliver = deliver
	q.spawn()
}

func (q *eventQueue) spawn() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	id := q.runner.Add(1)
	q.done = make(chan struct{})
	go q.run(id, q.done)
}

func (q *eventQueue) run(id uint64, done chan struct{}) {
	defer close(done)
	for {
		select {
		case ev := <-q.ch:
			q.deliver(ev)
			if q.runner.Load() != id {
				return // abandoned while delivering: another runner has the queue
			}
		case <-q.quit:
			return
		}
	}
}

// abandon hands the queue to a fresh runner: the current one is stuck in
// a handler that ignores its deadline, and later events must not wait.
func (q *eventQueue) abandon() { q.spawn() }

// stop ends delivery after the event in hand; queued events are dropped.
// It does not wait for an abandoned runner.
func (q *eventQueue) stop() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.quit)
	done := q.done
	q.mu.Unlock()
	if done != nil {
		<-done
	}
}

// depth is the number of events waiting.
func (q *eventQueue) depth() int { return len(q.ch) }
