package host

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wamphost/wamphost/loader"
)

// Ready reports whether the host serves: every component has joined its
// realm, none has given up reconnecting to its router, and shutdown has
// not begun. /readyz answers 503 otherwise. A component that is still
// reconnecting does not count against readiness: it comes back by itself,
// and a router's restart should not flap every daemon's readiness.
func (h *Host) Ready() bool {
	return h.started.Load() && !h.stopping.Load() && len(h.gaveUpList()) == 0
}

// setGaveUp records that a component stopped reconnecting (reconnect
// { max_retries }); clearGaveUp forgets it when the component stops.
func (h *Host) setGaveUp(component, router string) {
	h.gaveUpMu.Lock()
	defer h.gaveUpMu.Unlock()
	if h.gaveUp == nil {
		h.gaveUp = map[string]string{}
	}
	h.gaveUp[component] = router
}

func (h *Host) clearGaveUp(component string) {
	h.gaveUpMu.Lock()
	defer h.gaveUpMu.Unlock()
	delete(h.gaveUp, component)
}

// gaveUpList describes the components that gave up, sorted.
func (h *Host) gaveUpList() []string {
	h.gaveUpMu.Lock()
	defer h.gaveUpMu.Unlock()
	out := make([]string, 0, len(h.gaveUp))
	for c, r := range h.gaveUp {
		out = append(out, c+" (router "+r+")")
	}
	sort.Strings(out)
	return out
}

// BeginStop marks the host as stopping: /readyz turns 503 and new calls
// are answered wamp.error.unavailable while Shutdown lets calls in flight
// finish. Shutdown implies it.
func (h *Host) BeginStop() { h.stopping.Store(true) }

// ReloadFunc runs one reload the way the daemon's SIGHUP does and returns
// its outcome; the text is what an operator should read (what changed, or
// every diagnostic with its source line).
type ReloadFunc func(ctx context.Context) (text string, err error)

// Handler serves the observability endpoints:
//
//	GET  /metrics  Prometheus text exposition of the host's registry
//	GET  /healthz  200 while the process serves HTTP at all (liveness)
//	GET  /readyz   200 when Ready; 503 before every component joined, while a
//	               component has given up reconnecting, and while stopping
//	POST /-/reload runs reload and answers 200, or 422 with the diagnostics
//
// /-/reload answers 404 when reload is nil, and 403 to clients not on
// loopback: a listener opened up for remote scraping must not let the
// network reload the daemon.
func (h *Host) Handler(reload ReloadFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.reg, promhttp.HandlerOpts{ErrorLog: h.log.Named("metrics").StandardLogger(nil)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case h.stopping.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "stopping")
		case !h.started.Load():
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "starting: components have not all joined")
		case len(h.gaveUpList()) > 0:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "gave up reconnecting: "+strings.Join(h.gaveUpList(), ", ")+"; reload or restart to retry")
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	if reload != nil {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if !fromLoopback(r) {
				http.Error(w, "reload is only accepted from loopback", http.StatusForbidden)
				return
			}
			text, err := reload(r.Context())
			if err != nil {
				w.WriteHeader(http.StatusUnprocessableEntity)
			}
			fmt.Fprint(w, text)
		})
	}
	return mux
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeObservability listens on addr and serves Handler(reload) until ctx
// ends; it returns the bound address (addr may say port 0) and a function
// that waits for the server to close.
func (h *Host) ServeObservability(ctx context.Context, addr string, reload ReloadFunc) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listen: %w", err)
	}
	srv := &http.Server{Handler: h.Handler(reload), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			h.log.Error("metrics listener stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), func() { <-done }, nil
}

// Config is the config the host runs now: the one it started with, or the
// last one a reload applied. It must not be modified.
func (h *Host) Config() *loader.Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg
}
