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
	// chans holds the queued events: offers go to the last channel, and
	// delivery reads the first. A resize closes the last and appends one
	// of the new size, so events queued before it are delivered first.
	chMu    sync.RWMutex
	chans   []chan *nxwamp.Event
	quit    chan struct{}
	dropped atomic.Uint64
	// deliver hands one event to its handler; false means the handler
	// overran its deadline and the runner must leave the queue to the one
	// abandon starts.
	deliver func(*nxwamp.Event) bool

	// runner is the id of the goroutine that owns delivery. A runner whose
	// handler overruns is abandoned: a fresh one takes over the queue, and
	// the old one exits once its handler returns (if ever).
	runner atomic.Uint64
	mu     sync.Mutex
	done   chan struct{} // closed when the current runner exits
	closed bool
}

func newEventQueue(size int) *eventQueue {
	return &eventQueue{chans: []chan *nxwamp.Event{make(chan *nxwamp.Event, max(size, 1))}, quit: make(chan struct{})}
}

// offer enqueues ev without blocking; false means it was dropped.
func (q *eventQueue) offer(ev *nxwamp.Event) bool {
	q.chMu.RLock()
	ok := false
	select {
	case q.chans[len(q.chans)-1] <- ev:
		ok = true
	default:
	}
	q.chMu.RUnlock()
	if !ok {
		q.dropped.Add(1)
	}
	return ok
}

// resize makes the queue hold size events from now on (a reload changed
// event_queue). Events already queued stay, and are delivered first.
func (q *eventQueue) resize(size int) {
	size = max(size, 1)
	q.chMu.Lock()
	defer q.chMu.Unlock()
	last := q.chans[len(q.chans)-1]
	if cap(last) == size {
		return
	}
	close(last)
	q.chans = append(q.chans, make(chan *nxwamp.Event, size))
}

// capacity is how many events the queue holds.
func (q *eventQueue) capacity() int {
	q.chMu.RLock()
	defer q.chMu.RUnlock()
	return cap(q.chans[len(q.chans)-1])
}

// next is the channel to deliver from after done (nil: the first), once
// done is closed and drained.
func (q *eventQueue) next(done chan *nxwamp.Event) chan *nxwamp.Event {
	q.chMu.Lock()
	defer q.chMu.Unlock()
	if done != nil && q.chans[0] == done && len(q.chans) > 1 {
		q.chans = q.chans[1:]
	}
	return q.chans[0]
}

// start begins delivery, one event at a time, in order.
func (q *eventQueue) start(deliver func(*nxwamp.Event) bool) {
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
	ch := q.next(nil)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				ch = q.next(ch) // drained a channel a resize closed
				continue
			}
			// Abandoned while delivering: another runner has the queue, or
			// is about to (the overrun claimed the event just as its
			// handler returned, and abandon has yet to run).
			if !q.deliver(ev) || q.runner.Load() != id {
				return
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
func (q *eventQueue) depth() int {
	q.chMu.RLock()
	defer q.chMu.RUnlock()
	n := 0
	for _, ch := range q.chans {
		n += len(ch)
	}
	return n
}
