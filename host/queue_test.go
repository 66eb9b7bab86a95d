package host

import (
	"testing"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// TestEventQueueResize: a resize takes effect for the next offer, and the
// events queued before it (in any number of earlier sizes) are delivered
// first, in order, none lost but those that did not fit when offered.
func TestEventQueueResize(t *testing.T) {
	q := newEventQueue(2)
	release := make(chan struct{})
	got := make(chan int, 64)
	q.start(func(ev *nxwamp.Event) bool {
		n := ev.Arguments[0].(int)
		if n == 0 {
			<-release // hold delivery while the queue fills
		}
		got <- n
		return true
	})
	defer q.stop()
	ev := func(n int) *nxwamp.Event { return &nxwamp.Event{Arguments: nxwamp.List{n}} }
	if !q.offer(ev(0)) {
		t.Fatal("the first event was dropped")
	}
	// The runner takes 0 and blocks in its handler; then 2 fit.
	deadline := time.Now().Add(5 * time.Second)
	for q.depth() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the runner did not take the first event")
		}
		time.Sleep(time.Millisecond) // polling interval, not a wait for a condition
	}
	offer := func(n int, want bool) {
		t.Helper()
		if ok := q.offer(ev(n)); ok != want {
			t.Fatalf("offer(%d) = %v, want %v", n, ok, want)
		}
	}
	offer(1, true)
	offer(2, true)
	offer(3, false) // full at 2
	q.resize(3)
	offer(4, true)
	offer(5, true)
	offer(6, true)
	offer(7, false) // full at 3
	q.resize(1)
	offer(8, true)
	offer(9, false)
	if q.capacity() != 1 || q.depth() != 6 {
		t.Fatalf("capacity %d, depth %d; want 1 and 6", q.capacity(), q.depth())
	}
	close(release)
	wantDelivered(t, got, 0, 1, 2, 4, 5, 6, 8)
	if d := q.dropped.Load(); d != 3 {
		t.Errorf("dropped %d, want 3", d)
	}
	// The queue goes on at its new size.
	offer(10, true)
	if n := <-got; n != 10 {
		t.Fatalf("delivered %d after the resizes, want 10", n)
	}
}

// TestEventQueueRunnerLeavesAfterOverrun: a runner whose handler overran
// (deliver reports false) leaves the queue at once, even when abandon has
// not yet started its successor: it must not deliver the next event
// alongside that successor.
func TestEventQueueRunnerLeavesAfterOverrun(t *testing.T) {
	q := newEventQueue(4)
	got := make(chan int, 4)
	q.start(func(ev *nxwamp.Event) bool {
		n := ev.Arguments[0].(int)
		got <- n
		return n != 0 // event 0 overran
	})
	defer q.stop()
	q.mu.Lock()
	first := q.done
	q.mu.Unlock()
	q.offer(&nxwamp.Event{Arguments: nxwamp.List{0}})
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("the runner stayed on the queue after an overrun")
	}
	q.offer(&nxwamp.Event{Arguments: nxwamp.List{1}})
	q.abandon() // what the overrun does next: a fresh runner takes over
	wantDelivered(t, got, 0, 1)
}

// wantDelivered fails unless the events numbered want arrive on got, in
// that order.
func wantDelivered(t *testing.T, got <-chan int, want ...int) {
	t.Helper()
	for _, w := range want {
		select {
		case n := <-got:
			if n != w {
				t.Fatalf("delivered %d, want %d", n, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not delivered", w)
		}
	}
}
