package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

const (
	procAdd2 = "com.myapp.add2"
	// procAdd2Compiled is compiled add2 next to wamphost's components when
	// the baseline also runs a config, for profiling both side by side.
	procAdd2Compiled = "bench.add2.compiled"
	procTransform    = "bench.transform"
	topicEvent       = "bench.ev"
	topicAck         = "bench.ack"
)

// measure is one cell: a rate and a latency distribution.
type measure struct {
	Rate   float64       `json:"rate"`
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	N      int           `json:"n"`
	Errors int64         `json:"errors"`
	Lost   int64         `json:"lost,omitempty"`
}

// sample is what one slice of a cell measured.
type sample struct {
	lat          []time.Duration
	d            time.Duration
	errors, lost int64
}

// cellFn measures one setup for d after a warm-up.
type cellFn func(warm, d time.Duration) (sample, error)

// interleave measures several setups in turns of d/rounds each, so that
// whatever else the (shared, noisy) machine does falls on all of them
// alike, and merges each setup's turns into one measure.
func interleave(o options, fns ...cellFn) ([]measure, error) {
	rounds := o.rounds
	if rounds < 1 {
		rounds = 1
	}
	warm := max(o.warmup/time.Duration(rounds), 200*time.Millisecond)
	d := o.duration / time.Duration(rounds)
	merged := make([]sample, len(fns))
	for r := 0; r < rounds; r++ {
		for i, fn := range fns {
			s, err := fn(warm, d)
			if err != nil {
				return nil, err
			}
			merged[i].lat = append(merged[i].lat, s.lat...)
			merged[i].d += s.d
			merged[i].errors += s.errors
			merged[i].lost += s.lost
		}
	}
	out := make([]measure, len(fns))
	for i, s := range merged {
		out[i] = summarize(s.lat, s.d)
		out[i].Errors, out[i].Lost = s.errors, s.lost
	}
	return out, nil
}

func summarize(lat []time.Duration, d time.Duration) measure {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	m := measure{N: len(lat), Rate: float64(len(lat)) / d.Seconds()}
	if len(lat) > 0 {
		m.P50 = lat[len(lat)/2]
		m.P99 = lat[len(lat)*99/100]
	}
	return m
}

// rpcLoad runs `callers` sessions, each calling proc back to back, for the
// warm-up and then for d, counting only calls that start and end inside d.
// check validates every result, so a wrong answer is an error, not speed.
func rpcLoad(url, ser, proc string, args nxwamp.List, check func(nxwamp.List) bool, callers int, warm, d time.Duration) (sample, error) {
	ctx := context.Background()
	clients := make([]*client.Client, callers)
	for i := range clients {
		c, err := connect(ctx, url, ser)
		if err != nil {
			return sample{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	var errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+d)
	lats := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for {
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := c.Call(cctx, proc, nil, args, nil, nil)
				cancel()
				t1 := time.Now()
				if err == nil && !check(res.Arguments) {
					err = fmt.Errorf("wrong result %v", res.Arguments)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					if errs.Load() > 100 {
						return
					}
					continue
				}
				if !t0.Before(from) && t1.Before(until) {
					lat = append(lat, t1.Sub(t0))
				}
			}
			lats[i] = lat
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	s := sample{lat: all, d: d, errors: errs.Load()}
	if s.errors > 100 || len(all) == 0 {
		return s, fmt.Errorf("%s on %s: %d errors, first: %v", proc, url, s.errors, firstErr.Load())
	}
	return s, nil
}

// fanoutLoad publishes to bench.ev, keeping at most `window` events whose
// acknowledgements are not all in, while `subs` subscribers each publish
// an ack to bench.ack. It reports deliveries per second and, per delivery,
// the time from publish to its ack reaching the publisher. An event whose
// acks do not all arrive within a second counts its missing ones as lost.
func fanoutLoad(url, ser string, subs, window int, warm, d time.Duration) (sample, error) {
	ctx := context.Background()
	pub, err := connect(ctx, url, ser)
	if err != nil {
		return sample{}, err
	}
	defer pub.Close()
	type pending struct {
		sent time.Time
		left int
	}
	var mu sync.Mutex
	outstanding := map[int64]*pending{}
	slots := make(chan struct{}, window)
	var lat []time.Duration
	var lost int64
	start := time.Now()
	from, until := start.Add(warm), start.Add(warm+d)
	err = pub.Subscribe(topicAck, func(ev *nxwamp.Event) {
		seq, _ := nxwamp.AsInt64(argAt(ev.Arguments, 0))
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		p := outstanding[seq]
		if p == nil {
			return
		}
		if !p.sent.Before(from) && now.Before(until) {
			lat = append(lat, now.Sub(p.sent))
		}
		if p.left--; p.left == 0 {
			delete(outstanding, seq)
			<-slots
		}
	}, nil)
	if err != nil {
		return sample{}, err
	}
	reap := func() {
		mu.Lock()
		defer mu.Unlock()
		for seq, p := range outstanding {
			if time.Since(p.sent) > time.Second {
				lost += int64(p.left)
				delete(outstanding, seq)
				<-slots
			}
		}
	}
	for seq := int64(1); time.Now().Before(until); seq++ {
		for acquired := false; !acquired; {
			select {
			case slots <- struct{}{}:
				acquired = true
			case <-time.After(time.Second):
				reap()
			}
		}
		mu.Lock()
		outstanding[seq] = &pending{sent: time.Now(), left: subs}
		mu.Unlock()
		if err := pub.Publish(topicEvent, nil, nxwamp.List{seq}, nil); err != nil {
			return sample{}, err
		}
	}
	// Let the last events' acks in (polling, with a deadline) before
	// counting losses.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		mu.Lock()
		n := len(outstanding)
		mu.Unlock()
		if n == 0 {
			break
		}
		<-time.After(5 * time.Millisecond)
	}
	reap()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return sample{}, fmt.Errorf("fan-out on %s: no acks received", url)
	}
	return sample{lat: lat, d: d, lost: lost}, nil
}
