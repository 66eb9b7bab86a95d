package host

import (
	"errors"

	"github.com/wamphost/wamphost/interp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the host's Prometheus series, on a registry of the host's
// own so that two hosts in one process (tests, benchmarks) never collide.
type metrics struct {
	reg *prometheus.Registry

	calls          *prometheus.CounterVec   // component, procedure, error ("" when ok)
	callSeconds    *prometheus.HistogramVec // component, procedure
	events         *prometheus.CounterVec   // component, topic
	eventsDropped  *prometheus.CounterVec   // component, topic
	eventErrors    *prometheus.CounterVec   // component, topic
	published      *prometheus.CounterVec   // component
	panics         *prometheus.CounterVec   // component, where
	rebuilds       *prometheus.CounterVec   // component, reason
	rejected       *prometheus.CounterVec   // component, procedure
	reloads        *prometheus.CounterVec   // result
	lastReloadOK   prometheus.Gauge
	lastReloadTime prometheus.Gauge
	reconnects     *prometheus.CounterVec // component
	queueDepth     *prometheus.GaugeVec   // component, topic
	components     prometheus.Gauge
	clientSessions prometheus.Gauge
}

// newMetrics makes the registry; ready feeds wamphost_ready at scrape time.
func newMetrics(ready func() bool) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_calls_total",
		Help: "Calls handled, by procedure and by the error URI answered (empty when the call succeeded)."},
		[]string{"component", "procedure", "error"})
	m.callSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wamphost_call_duration_seconds",
		Help:    "Time from INVOCATION to answer, per procedure.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"component", "procedure"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_events_received_total",
		Help: "Events delivered to subscription handlers."}, []string{"component", "topic"})
	m.eventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_events_dropped_total",
		Help: "Events dropped because the subscription's queue was full."}, []string{"component", "topic"})
	m.eventErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_event_errors_total",
		Help: "Event handlers that returned an error, panicked or overran."}, []string{"component", "topic"})
	m.published = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_events_published_total",
		Help: "Events published by scripts."}, []string{"component"})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_script_panics_total",
		Help: "Panics recovered from script code, by where they happened."}, []string{"component", "where"})
	m.rebuilds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_interpreter_rebuilds_total",
		Help: "Fresh interpreters built for a component, by reason (reload, runaway)."}, []string{"component", "reason"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_calls_rejected_total",
		Help: "Calls refused with wamp.error.unavailable because the registration was at its concurrency limit."},
		[]string{"component", "procedure"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_reloads_total",
		Help: "Reloads, by result (ok, failed)."}, []string{"result"})
	m.lastReloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wamphost_last_reload_success",
		Help: "1 if the last reload applied, 0 if it failed."})
	m.lastReloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wamphost_last_reload_timestamp_seconds",
		Help: "Unix time of the last reload attempt."})
	m.reconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wamphost_reconnects_total",
		Help: "Sessions rebuilt after losing the router."}, []string{"component"})
	m.queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wamphost_event_queue_depth",
		Help: "Events waiting in a declared subscription's queue (event_queue is its capacity)."}, []string{"component", "topic"})
	m.components = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wamphost_components",
		Help: "Components whose session has joined its realm."})
	m.clientSessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "wamphost_client_sessions",
		Help: "WebSocket clients attached to the embedded router now."})
	readyGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wamphost_ready",
		Help: "1 once every component has joined, 0 before that and while stopping (as /readyz)."},
		func() float64 {
			if ready() {
				return 1
			}
			return 0
		})
	for _, c := range []prometheus.Collector{m.calls, m.callSeconds, m.events, m.eventsDropped, m.eventErrors, m.published,
		m.panics, m.rebuilds, m.rejected, m.reloads, m.lastReloadOK, m.lastReloadTime, m.reconnects,
		m.queueDepth, m.components, m.clientSessions, readyGauge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	m.lastReloadOK.Set(1)
	// Both results exist from the start, so that rate() and alerts on
	// failures work before the first one.
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	return m
}

// recordReload counts a reload attempt and its result.
func (m *metrics) recordReload(ok bool) {
	result, v := "ok", 1.0
	if !ok {
		result, v = "failed", 0
	}
	// The counter last, though a scrape is no snapshot: the registry
	// gathers collectors concurrently (observe_test waits for each value).
	m.lastReloadOK.Set(v)
	m.lastReloadTime.SetToCurrentTime()
	m.reloads.WithLabelValues(result).Inc()
}

// countLifecycleError counts a panic in OnJoin or OnLeave.
func (m *metrics) countLifecycleError(component, where string, err error) {
	var pe *interp.PanicError
	if errors.As(err, &pe) {
		m.panics.WithLabelValues(component, where).Inc()
	}
}
