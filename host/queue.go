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
	once    sync.Once
	done    chan struct{}
	dropped atomic.Uint64
}

func newEventQueue(size int) *eventQueue {
	return &eventQueue{ch: make(chan *nxwamp.Event, size), quit: make(chan struct{}), done: make(chan struct{})}
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

func (q *eventQueue) run(deliver func(*nxwamp.Event)) {
	defer close(q.done)
	for {
		select {
		case ev := <-q.ch:
			deliver(ev)
		case <-q.quit:
			return
		}
	}
}

// stop ends delivery after the event in hand; queued events are dropped.
func (q *eventQueue) stop() {
	q.once.Do(func() { close(q.quit) })
	<-q.done
}

// depth is the number of events waiting.
func (q *eventQueue) depth() int { return len(q.ch) }
