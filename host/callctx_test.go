package host

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"
)

// waitDone fails the test unless ctx ends within d.
func waitDone(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(d):
		t.Fatalf("context still running after %s", d)
	}
}

func TestCallCtxDeadline(t *testing.T) {
	g := &generation{}
	cc := newCallCtx(nil)
	var overran atomic.Bool
	before := time.Now()
	cc.start(nil, g, 30*time.Millisecond, handlerName{"test", "handler"}, func() { overran.Store(true) })
	dl, ok := cc.Deadline()
	if !ok || dl.Before(before.Add(30*time.Millisecond)) || dl.After(time.Now().Add(30*time.Millisecond)) {
		t.Fatalf("Deadline() = %v, %v; want about now+30ms", dl, ok)
	}
	// A context a script derives ends with it, for the same reason.
	child, cancel := context.WithCancel(cc)
	defer cancel()
	var afterRan atomic.Bool
	stopAfter := context.AfterFunc(cc, func() { afterRan.Store(true) })
	defer stopAfter()
	if cc.Err() != nil {
		t.Fatalf("Err() = %v before the deadline", cc.Err())
	}
	waitDone(t, cc, 2*time.Second)
	if !errors.Is(cc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v; want DeadlineExceeded", cc.Err())
	}
	if time.Since(before) < 30*time.Millisecond {
		t.Fatalf("ended after %s, before its deadline", time.Since(before))
	}
	waitDone(t, child, 2*time.Second)
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("derived context's Err() = %v; want DeadlineExceeded", child.Err())
	}
	if !cc.finish() {
		t.Fatal("finish() before the grace ended lost the claim")
	}
	if overran.Load() {
		t.Fatal("onOverrun ran for a handler that finished within the grace")
	}
	eventually(t, 2*time.Second, "context.AfterFunc runs", afterRan.Load)
}

func TestCallCtxCanceledBeforeDeadline(t *testing.T) {
	g := &generation{}
	cc := newCallCtx(nil)
	cc.start(nil, g, time.Hour, handlerName{"test", "handler"}, func() {})
	cc.cancel(context.Canceled)
	waitDone(t, cc, time.Second)
	if !errors.Is(cc.Err(), context.Canceled) {
		t.Fatalf("Err() = %v; want Canceled", cc.Err())
	}
	if !cc.finish() {
		t.Fatal("a handler that returned in time lost the claim")
	}
	// A second end does not change the first.
	cc.cancel(context.DeadlineExceeded)
	if !errors.Is(cc.Err(), context.Canceled) {
		t.Fatalf("Err() = %v after a second cancel; want Canceled", cc.Err())
	}
}

func TestCallCtxCallerDeadlineFirst(t *testing.T) {
	g := &generation{}
	cc := newCallCtx(nil)
	cc.callerDeadline = time.Now().Add(20 * time.Millisecond)
	cc.start(nil, g, time.Hour, handlerName{"test", "handler"}, func() {})
	if dl, _ := cc.Deadline(); !dl.Equal(cc.callerDeadline) {
		t.Fatalf("Deadline() = %v; want the caller's %v", dl, cc.callerDeadline)
	}
	waitDone(t, cc, 2*time.Second)
	if !errors.Is(cc.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v; want DeadlineExceeded", cc.Err())
	}
	cc.finish()
}

// TestCallCtxOverrun: a handler still running overrunGrace after its
// context ended loses the claim to onOverrun, which runs exactly once.
func TestCallCtxOverrun(t *testing.T) {
	g := &generation{}
	cc := newCallCtx(nil)
	overran := make(chan struct{}, 2)
	cc.start(nil, g, 10*time.Millisecond, handlerName{"test", "handler"}, func() { overran <- struct{}{} })
	select {
	case <-overran:
	case <-time.After(5 * time.Second):
		t.Fatal("onOverrun did not run")
	}
	if cc.finish() {
		t.Fatal("finish() won the claim after onOverrun ran")
	}
	select {
	case <-overran:
		t.Fatal("onOverrun ran twice")
	default:
	}
}

// TestLanesManyCalls: calls in one lane end in deadline order whatever
// order the others finish in, and a retired generation's calls end at once.
func TestLanesManyCalls(t *testing.T) {
	g := &generation{}
	var ccs []*callCtx
	for i := 0; i < 5; i++ {
		cc := newCallCtx(nil)
		cc.start(nil, g, 40*time.Millisecond, handlerName{"test", "handler"}, func() {})
		ccs = append(ccs, cc)
	}
	// Finishing the head and one in the middle leaves the rest watched.
	ccs[0].finish()
	ccs[2].finish()
	for _, i := range []int{1, 3, 4} {
		waitDone(t, ccs[i], 2*time.Second)
		if !errors.Is(ccs[i].Err(), context.DeadlineExceeded) {
			t.Fatalf("call %d: Err() = %v; want DeadlineExceeded", i, ccs[i].Err())
		}
		ccs[i].finish()
	}
	// The lane's timer re-arms for calls that join after it went idle.
	late := newCallCtx(nil)
	late.start(nil, g, 40*time.Millisecond, handlerName{"test", "handler"}, func() {})
	waitDone(t, late, 2*time.Second)
	late.finish()

	long := newCallCtx(nil)
	long.start(nil, g, time.Hour, handlerName{"test", "handler"}, func() {})
	g.lanes.retire()
	waitDone(t, long, time.Second)
	if !errors.Is(long.Err(), context.Canceled) {
		t.Fatalf("retired: Err() = %v; want Canceled", long.Err())
	}
	long.finish()
	after := newCallCtx(nil)
	after.start(nil, g, time.Hour, handlerName{"test", "handler"}, func() {})
	if !errors.Is(after.Err(), context.Canceled) {
		t.Fatalf("a call starting on retired code: Err() = %v; want Canceled", after.Err())
	}
	after.finish()
}

// BenchmarkCallCtx is the per-call cost of the watch that replaced
// context.WithTimeout plus two context.AfterFuncs.
func BenchmarkCallCtx(b *testing.B) {
	g := &generation{}
	b.Run("callCtx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cc := newCallCtx(nil)
			cc.start(nil, g, time.Minute, handlerName{"bench", "handler"}, func() {})
			cc.finish()
		}
	})
	b.Run("context.WithTimeout+AfterFunc", func(b *testing.B) {
		b.ReportAllocs()
		parent, cancelParent := context.WithCancel(context.Background())
		defer cancelParent()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			stop := context.AfterFunc(parent, cancel)
			stopWatch := context.AfterFunc(ctx, func() {})
			stopWatch()
			stop()
			cancel()
		}
	})
}

// TestPeerSendAfterClose: a handler that outlives its session (an overrun
// at shutdown) answers into a closed peer; that must drop the answer, not
// panic on the transport's closed channel.
func TestPeerSendAfterClose(t *testing.T) {
	local, routerSide := transport.LinkedPeers()
	go func() {
		for range routerSide.Recv() {
		}
	}()
	p := newComponentPeer(local, hclog.NewNullLogger())
	p.started(7)
	p.Close()
	p.answer(7, client.InvokeResult{Args: nxwamp.List{1}})
	p.publish("com.example.late", nxwamp.Dict{}, nil, nil)
	if err := p.progress(8, nil, nil); err == nil {
		t.Fatal("progress for an invocation that is not open was sent")
	}
}

// TestPeerWorkers: each invocation runs on the goroutine that read it,
// which first hands reading on, so that blocked invocations neither block
// each other nor what the client is sent; a burst leaves at most
// maxIdleWorkers waiting, and Close ends them.
func TestPeerWorkers(t *testing.T) {
	local, routerSide := transport.LinkedPeers()
	answers := make(chan nxwamp.Message, 64)
	go func() {
		for m := range routerSide.Recv() {
			answers <- m
		}
	}()
	base := runtime.NumGoroutine()
	p := newComponentPeer(local, hclog.NewNullLogger())
	release := make(chan struct{})
	var started sync.WaitGroup
	p.handle(1, func(cc *callCtx, inv *nxwamp.Invocation) client.InvokeResult {
		started.Done()
		<-release
		return client.InvokeResult{Args: inv.Arguments}
	})
	const burst = 3 * maxIdleWorkers
	started.Add(burst)
	for i := 1; i <= burst; i++ {
		routerSide.Send() <- &nxwamp.Invocation{Request: nxwamp.ID(i), Registration: 1, Details: nxwamp.Dict{}, Arguments: nxwamp.List{i}}
	}
	// Every invocation blocks until released: all start only if each has
	// a goroutine of its own.
	allStarted := make(chan struct{})
	go func() { started.Wait(); close(allStarted) }()
	select {
	case <-allStarted:
	case <-time.After(5 * time.Second):
		t.Fatalf("%d blocked invocations did not all start", burst)
	}
	// Reading goes on meanwhile: what the client handles still reaches it.
	routerSide.Send() <- &nxwamp.Result{Request: 99, Details: nxwamp.Dict{}}
	select {
	case m := <-p.Recv():
		if r, ok := m.(*nxwamp.Result); !ok || r.Request != 99 {
			t.Fatalf("the client got %v; want RESULT 99", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a RESULT for the client waited for blocked invocations")
	}
	close(release)
	seen := map[nxwamp.ID]bool{}
	for len(seen) < burst {
		select {
		case m := <-answers:
			y, ok := m.(*nxwamp.Yield)
			if !ok || len(y.Arguments) != 1 || y.Arguments[0] != int(y.Request) {
				t.Fatalf("answer %#v; want a YIELD echoing its request number", m)
			}
			seen[y.Request] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d invocations answered", len(seen), burst)
		}
	}
	// The peer's own goroutines: the reader, up to maxIdleWorkers waiting
	// and the forwarder.
	waitGoroutines(t, base+maxIdleWorkers+2, 5*time.Second)
	// The invocations keep coming after the burst.
	started.Add(1)
	routerSide.Send() <- &nxwamp.Invocation{Request: 100, Registration: 1, Details: nxwamp.Dict{}, Arguments: nxwamp.List{100}}
	if m := <-answers; m.(*nxwamp.Yield).Request != 100 {
		t.Fatalf("answer %v; want YIELD 100", m)
	}
	p.Close()
	// The router closes its side when the session ends: the reader ends,
	// and with it every goroutine of the peer (the drain above too).
	routerSide.Close()
	waitGoroutines(t, base-1, 5*time.Second)
}

// TestPeerInterruptAnswersOnce: an INTERRUPT of a running invocation gets
// the caller exactly one answer, the cancellation, even though the handler
// returns a result as soon as its context ends.
func TestPeerInterruptAnswersOnce(t *testing.T) {
	local, routerSide := transport.LinkedPeersQSize(1024)
	answers := make(chan nxwamp.Message, 4096)
	go func() {
		for m := range routerSide.Recv() {
			answers <- m
		}
	}()
	p := newComponentPeer(local, hclog.NewNullLogger())
	defer p.Close()
	p.handle(1, func(cc *callCtx, inv *nxwamp.Invocation) client.InvokeResult {
		<-cc.Done()
		return client.InvokeResult{Args: nxwamp.List{"result"}}
	})
	const n = 500
	for i := 1; i <= n; i++ {
		routerSide.Send() <- &nxwamp.Invocation{Request: nxwamp.ID(i), Registration: 1, Details: nxwamp.Dict{}}
		routerSide.Send() <- &nxwamp.Interrupt{Request: nxwamp.ID(i), Options: nxwamp.Dict{}}
	}
	got := map[nxwamp.ID]int{}
	for len(got) < n {
		select {
		case m := <-answers:
			e, ok := m.(*nxwamp.Error)
			if !ok || e.Error != nxwamp.ErrCanceled {
				t.Fatalf("an interrupted invocation was answered with %#v; want ERROR %s", m, nxwamp.ErrCanceled)
			}
			got[e.Request]++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d interrupted invocations answered", len(got), n)
		}
	}
	// Every handler has returned by now or soon: nothing more may leave.
	if !p.wait(context.Background()) {
		t.Fatal("invocations still open")
	}
	select {
	case m := <-answers:
		t.Fatalf("a second answer left: %#v", m)
	case <-time.After(100 * time.Millisecond): // a second answer would follow within microseconds
	}
}

// TestPeerEventsFromSubscribed: the EVENTs of a subscription the client is
// making go to its handler from the router's SUBSCRIBED on, in order; none
// takes the detour through the client, where one could fall behind a later
// one handed over directly.
func TestPeerEventsFromSubscribed(t *testing.T) {
	local, routerSide := transport.LinkedPeersQSize(64)
	p := newComponentPeer(local, hclog.NewNullLogger())
	defer p.Close()
	got := make(chan int, 8)
	p.expect("com.example.t", func(ev *nxwamp.Event) { got <- ev.Arguments[0].(int) })
	// What the client sends, and what the router answers.
	p.Send() <- &nxwamp.Subscribe{Request: 7, Options: nxwamp.Dict{}, Topic: "com.example.t"}
	if m := <-routerSide.Recv(); m.MessageType() != nxwamp.SUBSCRIBE {
		t.Fatalf("the router got %v; want the SUBSCRIBE", m)
	}
	routerSide.Send() <- &nxwamp.Subscribed{Request: 7, Subscription: 42}
	for i := 1; i <= 3; i++ {
		routerSide.Send() <- &nxwamp.Event{Subscription: 42, Publication: nxwamp.ID(i), Details: nxwamp.Dict{}, Arguments: nxwamp.List{i}}
	}
	// The client gets its SUBSCRIBED, and only that.
	if m := <-p.Recv(); m.MessageType() != nxwamp.SUBSCRIBED {
		t.Fatalf("the client got %v; want the SUBSCRIBED", m)
	}
	wantDelivered(t, got, 1, 2, 3)
	select {
	case m := <-p.Recv():
		t.Fatalf("the client got %v too", m)
	default:
	}
}

// TestPeerDropsClientAnswerAfterOverrun: an invocation the client runs (one
// racing its registration) that overran was answered by the peer; the
// client's later answer must not follow it. An invocation the peer does
// not track keeps the client's answer.
func TestPeerDropsClientAnswerAfterOverrun(t *testing.T) {
	local, routerSide := transport.LinkedPeersQSize(64)
	p := newComponentPeer(local, hclog.NewNullLogger())
	defer p.Close()
	p.started(5)
	// The overrun's answer: claimed at once, sent when the router reads.
	go p.answer(5, errorResult(string(nxwamp.ErrTimeout), "the handler did not finish before its deadline"))
	eventually(t, 5*time.Second, "the overrun to claim the answer", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		_, claimed := p.sending[5]
		return claimed
	})
	go func() { // what the client sends, while the router reads
		p.Send() <- &nxwamp.Yield{Request: 5, Options: nxwamp.Dict{}, Arguments: nxwamp.List{"late"}}
		p.Send() <- &nxwamp.Yield{Request: 6, Options: nxwamp.Dict{}, Arguments: nxwamp.List{"untracked"}}
	}()
	// The client's answers leave in order, so a YIELD 5 would come before
	// the YIELD 6: the first two messages tell.
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case m := <-routerSide.Recv():
			switch m := m.(type) {
			case *nxwamp.Error:
				got[fmt.Sprintf("ERROR %d", m.Request)] = true
			case *nxwamp.Yield:
				got[fmt.Sprintf("YIELD %d", m.Request)] = true
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the router got only %v", got)
		}
	}
	if !got["ERROR 5"] || !got["YIELD 6"] {
		t.Fatalf("the router got %v; want ERROR 5 and YIELD 6 (the client's late YIELD 5 dropped)", got)
	}
}
