package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/wamp"
)

// componentPeer is the client end of a component's transport, between the
// router and the nexus client. It does three things the client cannot.
//
// It runs the component's invocations itself. The nexus client runs each
// INVOCATION through two goroutines of its own and sends the YIELD from a
// third place; every hand-off between goroutines costs a wake-up, and on a
// small machine those wake-ups, not the interpreter, were most of what a
// call cost over a compiled handler (docs/benchmarks.md). Here the
// goroutine that reads an invocation of a registration the peer knows runs
// it and sends the answer, once it has handed reading on (worker). Events
// of known subscriptions go straight to their handlers (which only queue
// them). Everything else (replies, handshake, GOODBYE, an invocation that
// races its registration) goes to the client as before, so the client
// stays in charge of the session.
//
// It refuses what the client would mishandle: payload passthru (the client
// panics unpacking a payload of the wrong type) and progressive call
// invocations (the client would answer the first part and drop the rest).
//
// It knows when every answer has left: shutdown waits for every invocation
// started to be answered before the client says GOODBYE, which would make
// the router cancel the call ("callee gone").
type componentPeer struct {
	nxwamp.Peer
	log  hclog.Logger
	send chan nxwamp.Message // from the client, forwarded by forward
	recv chan nxwamp.Message // to the client, fed by receive
	sent chan struct{}       // closed when forward has ended
	// dead closes once the connection is known lost: a network transport
	// whose writer has gone stops reading its send queue, and a send to it
	// would block the sender (and every call on the client) for ever.
	dead     chan struct{}
	deadOnce sync.Once
	closing  chan struct{} // closed by Close: nobody reads recv any more
	// Handlers send their own answers, and may still be running when the
	// peer closes; the transport's send channel must not be used (local
	// transports close it) once Close has let go of it.
	sendMu      sync.RWMutex
	stopSending chan struct{}
	released    bool
	// publishID numbers the PUBLISHes the peer sends itself (publish).
	publishID atomic.Uint64
	// One goroutine at a time reads from the router (it holds the lead);
	// up to maxIdleWorkers more wait for it, so that a call neither starts
	// a goroutine nor grows its stack (presizeStack).
	lead        chan struct{}
	idleWorkers atomic.Int32

	mu    sync.Mutex
	link  *link                           // set before the first handle
	procs map[nxwamp.ID]invocationHandler // by registration
	subs  map[nxwamp.ID]client.EventHandler
	// awaiting holds the handlers of subscriptions being made, by topic,
	// then by the SUBSCRIBE's request: the SUBSCRIBED reply makes them
	// known before any EVENT can follow it (expect).
	awaiting   map[string]client.EventHandler
	subscribes map[nxwamp.ID]client.EventHandler
	open       map[nxwamp.ID]*callCtx // unanswered invocations; nil: the client runs it, or refused
	// sending holds the open invocations whose one answer is being sent:
	// an INTERRUPT's, an overrun's and the handler's race for it.
	sending map[nxwamp.ID]struct{}
	// clientRuns are the open invocations the client runs (started);
	// superseded, those of them the peer has answered (an overrun), whose
	// answer from the client, when it comes, is dropped.
	clientRuns map[nxwamp.ID]struct{}
	superseded map[nxwamp.ID]struct{}
	// refused holds progressive call invocations to refuse, with why,
	// when their last part arrives (at most maxRefused).
	refused map[nxwamp.ID]string
	idle    chan struct{} // closed while nothing is open
	closed  bool
}

func newComponentPeer(p nxwamp.Peer, log hclog.Logger) *componentPeer {
	cp := &componentPeer{
		Peer:        p,
		log:         log,
		send:        make(chan nxwamp.Message),
		recv:        make(chan nxwamp.Message, 16),
		sent:        make(chan struct{}),
		dead:        make(chan struct{}),
		closing:     make(chan struct{}),
		stopSending: make(chan struct{}),
		lead:        make(chan struct{}),
		procs:       map[nxwamp.ID]invocationHandler{},
		subs:        map[nxwamp.ID]client.EventHandler{},
		awaiting:    map[string]client.EventHandler{},
		subscribes:  map[nxwamp.ID]client.EventHandler{},
		open:        map[nxwamp.ID]*callCtx{},
		sending:     map[nxwamp.ID]struct{}{},
		clientRuns:  map[nxwamp.ID]struct{}{},
		superseded:  map[nxwamp.ID]struct{}{},
		refused:     map[nxwamp.ID]string{},
		idle:        make(chan struct{}),
	}
	close(cp.idle)
	go cp.forward()
	go cp.worker()
	return cp
}

func (p *componentPeer) Send() chan<- nxwamp.Message { return p.send }
func (p *componentPeer) Recv() <-chan nxwamp.Message { return p.recv }

// invocationHandler runs one invocation under its context.
type invocationHandler func(cc *callCtx, inv *nxwamp.Invocation) client.InvokeResult

// handle runs INVOCATIONs of registration id on h from now on; until then
// the client runs them (on the same handler).
func (p *componentPeer) handle(id nxwamp.ID, h invocationHandler) {
	p.mu.Lock()
	p.procs[id] = h
	p.mu.Unlock()
}

func (p *componentPeer) unhandle(id nxwamp.ID) {
	p.mu.Lock()
	delete(p.procs, id)
	p.mu.Unlock()
}

// expect hands EVENTs of the subscription the client is about to make to
// topic to h, from the router's SUBSCRIBED on. Without it they would go
// to the client until deliver, and one still in the client's hands could
// reach h after a later one handed over directly.
func (p *componentPeer) expect(topic string, h client.EventHandler) {
	p.mu.Lock()
	p.awaiting[topic] = h
	p.mu.Unlock()
}

// unexpect forgets an expected subscription that was not made.
func (p *componentPeer) unexpect(topic string) {
	p.mu.Lock()
	delete(p.awaiting, topic)
	p.mu.Unlock()
}

// deliver hands EVENTs of subscription id to h from now on.
func (p *componentPeer) deliver(id nxwamp.ID, h client.EventHandler) {
	p.mu.Lock()
	p.subs[id] = h
	p.mu.Unlock()
}

func (p *componentPeer) undeliver(id nxwamp.ID) {
	p.mu.Lock()
	delete(p.subs, id)
	p.mu.Unlock()
}

// maxRefused bounds the refused progressive calls a peer remembers.
const maxRefused = 1024

// Why the peer refuses some invocations (see dispatch).
const (
	errPassthru              = "payload passthru mode (ppt_scheme) is not supported by wamphost components"
	errProgressiveInvocation = "progressive call invocations are not supported: a wamphost handler takes its arguments in one invocation"
)

// worker holds the lead or waits for it. Holding it, it reads what the
// router sends, in order: it hands on what the client handles, queues
// events, and when an invocation is to run here it hands the lead to a
// waiting worker (or a new one) and runs the invocation itself. The call
// starts at once, where handing it to another goroutine would first wait
// for that one to wake up: on a sequential caller that wait was the
// largest part of what a call cost over the compiled baseline.
func (p *componentPeer) worker() {
	presizeStack()
	for {
		run := p.receive()
		if run == nil {
			return
		}
		run()
		if !p.awaitLead() {
			return
		}
	}
}

// receive reads until it has an invocation to run, and returns it once the
// lead has moved on; nil when reading is over.
func (p *componentPeer) receive() func() {
	for msg := range p.Peer.Recv() {
		run, handled := p.dispatch(msg)
		if run != nil {
			p.handOff()
			return run
		}
		if handled {
			continue
		}
		select {
		case p.recv <- msg:
		case <-p.closing:
			close(p.recv)
			return nil
		}
	}
	close(p.recv)
	return nil
}

// handOff gives the lead to a waiting worker, or to a new one.
func (p *componentPeer) handOff() {
	select {
	case p.lead <- struct{}{}:
	default:
		go p.worker()
	}
}

// awaitLead waits for the lead, unless maxIdleWorkers are waiting already
// or the peer is closing (false: the worker ends).
func (p *componentPeer) awaitLead() bool {
	defer p.idleWorkers.Add(-1)
	if p.idleWorkers.Add(1) > maxIdleWorkers {
		return false
	}
	select {
	case <-p.lead:
		return true
	case <-p.closing:
		return false
	}
}

// dispatch handles msg here if it can, and reports whether it did; run is
// an invocation for the caller to run.
func (p *componentPeer) dispatch(msg nxwamp.Message) (run func(), handled bool) {
	switch m := msg.(type) {
	case *nxwamp.Invocation:
		_, ppt := m.Details[nxwamp.OptPPTScheme]
		progress, _ := m.Details[nxwamp.OptProgress].(bool)
		p.mu.Lock()
		h, known := p.procs[m.Registration]
		_, open := p.open[m.Request]
		_, refused := p.refused[m.Request]
		switch {
		case p.closed:
			// The client refuses it.
			p.mu.Unlock()
			return nil, false
		case refused:
			// A later part of a progressive call invocation being
			// refused. The refusal waits for the last part: once the
			// callee has answered, nexus turns each part still to come
			// into a call of its own, and the last one, which looks like
			// any call, would run the handler on its arguments alone.
			if progress {
				p.mu.Unlock()
				return nil, true
			}
			why := p.refused[m.Request]
			delete(p.refused, m.Request)
			p.startLocked(m.Request, nil)
			p.mu.Unlock()
			go p.answer(m.Request, errorResult(wamp.ErrInvalidArgument, why))
			return nil, true
		case open:
			// A part for an invocation being answered (a refused
			// passthru call): nothing more to do.
			p.mu.Unlock()
			return nil, true
		case ppt || progress:
			// Refused here. Passthru: the client would unpack the payload
			// and panics on one of the wrong type (any caller could stop
			// the daemon), and a script could do nothing with an opaque
			// one. Progressive call invocations: a handler takes one
			// invocation; the client would answer the first part and drop
			// the rest without a word.
			why := errPassthru
			if !ppt {
				why = errProgressiveInvocation
			}
			if progress && len(p.refused) < maxRefused {
				p.refused[m.Request] = why // answered at the last part
				p.mu.Unlock()
				return nil, true
			}
			if progress {
				// Too many callers that never sent their last part: this
				// one is refused now, and its later parts may reach the
				// handler as calls of their own.
				p.log.Warn("too many refused progressive calls waiting for their last part; refusing at once", "waiting", len(p.refused))
			}
			p.startLocked(m.Request, nil)
			p.mu.Unlock()
			go p.answer(m.Request, errorResult(wamp.ErrInvalidArgument, why))
			return nil, true
		case !known:
			// A registration the router confirmed a moment ago: the client
			// runs it on the same handler (link.register).
			p.mu.Unlock()
			return nil, false
		}
		cc := newCallCtx(p.link)
		if timeout, _ := nxwamp.AsInt64(m.Details[nxwamp.OptTimeout]); timeout > 0 {
			// The caller's own deadline, as the client would set it.
			cc.callerDeadline = time.Now().Add(time.Duration(timeout) * time.Millisecond)
		}
		p.startLocked(m.Request, cc)
		p.mu.Unlock()
		return func() { p.answer(m.Request, h(cc, m)) }, true
	case *nxwamp.Interrupt:
		p.mu.Lock()
		if _, refused := p.refused[m.Request]; refused {
			// A refused progressive call the caller gave up on.
			delete(p.refused, m.Request)
			p.startLocked(m.Request, nil)
			p.mu.Unlock()
			go p.answer(m.Request, errorResult(wamp.ErrCanceled, "canceled by the caller"))
			return nil, true
		}
		cc, ours := p.open[m.Request]
		if !ours || cc == nil {
			p.mu.Unlock()
			return nil, false
		}
		claimed := p.claimLocked(m.Request)
		p.mu.Unlock()
		if !claimed {
			return nil, true // answered already, or being answered
		}
		// As the client would: the handler's context ends and the caller
		// is answered now, whatever the handler does (the answer is
		// claimed before the handler can see its context end).
		cc.cancel(context.Canceled)
		go p.sendAnswer(m.Request, ctxError(cc))
		return nil, true
	case *nxwamp.Subscribed:
		p.mu.Lock()
		if h, ok := p.subscribes[m.Request]; ok {
			delete(p.subscribes, m.Request)
			p.subs[m.Subscription] = h
		}
		p.mu.Unlock()
		return nil, false // the client has its answer too
	case *nxwamp.Error:
		if m.Type == nxwamp.SUBSCRIBE {
			p.mu.Lock()
			delete(p.subscribes, m.Request)
			p.mu.Unlock()
		}
		return nil, false
	case *nxwamp.Event:
		if _, ppt := m.Details[nxwamp.OptPPTScheme]; ppt {
			// Dropped, for the reason passthru calls are refused.
			p.log.Warn("event dropped: "+errPassthru, "subscription", m.Subscription)
			return nil, true
		}
		p.mu.Lock()
		h, known := p.subs[m.Subscription]
		p.mu.Unlock()
		if !known {
			return nil, false
		}
		h(m)
		return nil, true
	}
	return nil, false
}

// maxIdleWorkers bounds the workers a peer keeps waiting: a burst of
// concurrent calls leaves no more goroutines behind than this.
const maxIdleWorkers = 8

// answer sends the one answer to invocation req, unless it has one
// already (an overrun handler's caller is answered at its deadline).
func (p *componentPeer) answer(req nxwamp.ID, res client.InvokeResult) {
	p.mu.Lock()
	claimed := p.claimLocked(req)
	p.mu.Unlock()
	if claimed {
		p.sendAnswer(req, res)
	}
}

// claimLocked reserves the one answer to open invocation req, and reports
// whether it got it: an INTERRUPT's, an overrun's and the handler's own
// answer race, and only the first may leave. The invocation stays open,
// for wait, until its answer has been sent.
func (p *componentPeer) claimLocked(req nxwamp.ID) bool {
	if !p.unansweredLocked(req) {
		return false
	}
	p.sending[req] = struct{}{}
	return true
}

// unansweredLocked reports whether req is open and no answer to it has
// been claimed.
func (p *componentPeer) unansweredLocked(req nxwamp.ID) bool {
	_, open := p.open[req]
	_, taken := p.sending[req]
	return open && !taken
}

// sendAnswer sends the claimed answer to invocation req.
func (p *componentPeer) sendAnswer(req nxwamp.ID, res client.InvokeResult) {
	var msg nxwamp.Message
	if res.Err != "" {
		msg = &nxwamp.Error{Type: nxwamp.INVOCATION, Request: req, Details: nxwamp.Dict{}, Error: res.Err, Arguments: res.Args, ArgumentsKw: res.Kwargs}
	} else {
		msg = &nxwamp.Yield{Request: req, Options: nxwamp.Dict{}, Arguments: res.Args, ArgumentsKw: res.Kwargs}
	}
	p.transmit(msg)
	p.mu.Lock()
	if _, ok := p.clientRuns[req]; ok {
		delete(p.clientRuns, req)
		p.superseded[req] = struct{}{}
	}
	p.mu.Unlock()
	p.answered(req)
}

// progress sends a progressive result of invocation req while it is open.
func (p *componentPeer) progress(req nxwamp.ID, args nxwamp.List, kwargs nxwamp.Dict) error {
	p.mu.Lock()
	unanswered := p.unansweredLocked(req)
	p.mu.Unlock()
	if !unanswered {
		return errAnswered
	}
	p.transmit(&nxwamp.Yield{Request: req, Options: nxwamp.Dict{nxwamp.OptProgress: true}, Arguments: args, ArgumentsKw: kwargs})
	return nil
}

// firstPublishID is far above the request IDs the client counts up from
// 1, so that the peer's own never meet them (and below 2^53, WAMP's
// largest ID).
const firstPublishID = 1 << 52

// publish sends an unacknowledged PUBLISH for the client: the router
// answers nothing, so the client has nothing to wait for. Only the
// embedded router gets these (dialEmbedded); nexus does not check that
// request IDs count up, as WAMP suggests, but other routers might.
func (p *componentPeer) publish(topic string, options nxwamp.Dict, args nxwamp.List, kwargs nxwamp.Dict) {
	id := nxwamp.ID(p.publishID.Add(1))
	p.transmit(&nxwamp.Publish{Request: id, Options: options, Topic: nxwamp.URI(topic), Arguments: args, ArgumentsKw: kwargs})
}

var errAnswered = errors.New("the call has been answered already")

// transmit hands msg to the transport, or drops it once the connection is
// lost (the client fails its own requests when it sees that).
func (p *componentPeer) transmit(msg nxwamp.Message) {
	p.sendMu.RLock()
	defer p.sendMu.RUnlock()
	if p.released {
		return
	}
	select {
	case p.Peer.Send() <- msg:
	case <-p.dead:
	case <-p.stopSending:
	}
}

// forward passes on what the client sends, noting answers to invocations
// the client ran.
func (p *componentPeer) forward() {
	defer close(p.sent)
	for msg := range p.send {
		var answer nxwamp.ID
		switch m := msg.(type) {
		case *nxwamp.Subscribe:
			p.mu.Lock()
			if h, ok := p.awaiting[string(m.Topic)]; ok {
				delete(p.awaiting, string(m.Topic))
				p.subscribes[m.Request] = h
			}
			p.mu.Unlock()
		case *nxwamp.Yield:
			if progress, _ := m.Options[nxwamp.OptProgress].(bool); !progress {
				answer = m.Request
			}
		case *nxwamp.Error:
			if m.Type == nxwamp.INVOCATION {
				answer = m.Request
			}
		}
		if answer != 0 && !p.claimClient(answer) {
			continue // the peer answered it already (an overrun)
		}
		p.transmit(msg)
		if answer != 0 {
			p.answered(answer)
		}
	}
}

// claimClient reserves the answer to invocation req for the client's
// answer, unless the peer has answered or is answering it: an invocation
// the client runs (one racing its registration) may overrun, and the
// caller then has its answer from the peer. An invocation the peer does
// not track keeps the client's answer.
func (p *componentPeer) claimClient(req nxwamp.ID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.superseded[req]; ok {
		delete(p.superseded, req)
		return false
	}
	if _, open := p.open[req]; !open {
		return true
	}
	// Answered now, by this or by the peer's answer on its way: either
	// way no answer of the client's is to come.
	delete(p.clientRuns, req)
	return p.claimLocked(req)
}

// abandon stops handing messages to a transport whose connection is lost.
func (p *componentPeer) abandon() { p.deadOnce.Do(func() { close(p.dead) }) }

// abandonIfDone abandons the transport if done (a client's Done) is closed.
func (p *componentPeer) abandonIfDone(done <-chan struct{}) {
	select {
	case <-done:
		p.abandon()
	default:
	}
}

// started records an invocation the client is about to run.
func (p *componentPeer) started(req nxwamp.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.open[req]; !ok {
		p.startLocked(req, nil)
		p.clientRuns[req] = struct{}{}
	}
}

func (p *componentPeer) startLocked(req nxwamp.ID, cc *callCtx) {
	if len(p.open) == 0 {
		p.idle = make(chan struct{})
	}
	p.open[req] = cc
}

func (p *componentPeer) answered(req nxwamp.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.open[req]; !ok {
		return
	}
	delete(p.open, req)
	delete(p.sending, req)
	if len(p.open) == 0 {
		close(p.idle)
	}
}

// wait returns once every started invocation has been answered, or ctx
// ends. Invocations that arrive meanwhile go to the client, which refuses
// them once it is closing.
func (p *componentPeer) wait(ctx context.Context) bool {
	p.mu.Lock()
	idle := p.idle
	p.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeGrace bounds how long Close waits for queued messages to leave.
const closeGrace = 5 * time.Second

func (p *componentPeer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.closing)
	close(p.send)
	select {
	case <-p.sent:
	case <-time.After(closeGrace):
		// The transport stopped taking messages (a connection that died
		// unnoticed): what is still queued cannot be delivered.
		p.abandon()
		<-p.sent
	}
	close(p.stopSending)
	p.sendMu.Lock()
	p.released = true
	p.sendMu.Unlock()
	p.Peer.Close()
}
