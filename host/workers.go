package host

import "time"

// workers runs handlers on goroutines that outlive one call. yaegi's
// frames are deep, so a handler on a fresh goroutine grew (copied) its
// stack on every call: a third of the host's CPU per call in
// BenchmarkDispatchAdd2. A worker grows its stack once. Idle workers exit
// after workerIdle, so a burst of calls leaves no goroutines behind.
type workers struct {
	jobs chan func()
}

const workerIdle = time.Second

func newWorkers() *workers { return &workers{jobs: make(chan func())} }

// run hands fn to an idle worker, or starts one.
func (w *workers) run(fn func()) {
	select {
	case w.jobs <- fn:
	default:
		go w.work(fn)
	}
}

func (w *workers) work(fn func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		fn()
		fn = nil // do not pin the last call's values while idle
		idle.Reset(workerIdle)
		select {
		case fn = <-w.jobs:
		case <-idle.C:
			return
		}
	}
}
