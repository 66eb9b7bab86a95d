// Package host owns wamphost's runtime: the embedded router, one WAMP
// session per component, the bindings from URIs to interpreted handlers,
// dispatch of calls and events, reload and shutdown. It is the only package
// that sees both the config (loader) and the scripts (interp).
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/loader"
)

// Host runs one config: the embedded router and every component.
type Host struct {
	log    hclog.Logger
	stdout io.Writer

	mu  sync.Mutex
	cfg *loader.Config
	// router is nil while no component needs the embedded router and the
	// config declares none (loader.Config.EmbeddedRouter).
	router *embeddedRouter
	comps  map[string]*component

	stopping atomic.Bool
	started  atomic.Bool // every component joined; see Ready
	// gaveUpMu guards gaveUp: the components that stopped reconnecting,
	// by name, with their router. Ready reads it without h.mu, which a
	// reload holds for as long as it takes.
	gaveUpMu sync.Mutex
	gaveUp   map[string]string
	metrics  *metrics
	// defaultTimeout mirrors cfg.CallTimeout without mu: Session.Register
	// reads it from OnJoin, which runs while Start or Reload holds mu.
	defaultTimeout atomic.Int64
}

// Options configure a Host beyond its config file.
type Options struct {
	// Logger is the root logger; each component gets a named child.
	Logger hclog.Logger
	// ScriptStdout receives what scripts print; nil discards it.
	ScriptStdout io.Writer
}

// New prepares a host for cfg without starting anything.
func New(cfg *loader.Config, opts Options) *Host {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	h := &Host{log: log, stdout: opts.ScriptStdout, cfg: cfg, comps: map[string]*component{}}
	h.metrics = newMetrics(h.Ready)
	h.defaultTimeout.Store(int64(cfg.CallTimeout))
	return h
}

// callTimeout is the daemon-wide default handler deadline.
func (h *Host) callTimeout() time.Duration {
	return time.Duration(h.defaultTimeout.Load())
}

// restartRunaway gives a component a fresh interpreter built from its
// source after one of its handlers ran away, then stops the old one so
// its loops end and the CPU they burn comes back.
func (h *Host) restartRunaway(c *component, g *generation) {
	defer g.halt()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping.Load() || h.comps[c.name] != c || c.current() != g {
		return // stopping, or a reload already replaced this code
	}
	next, ds := build(g.cfg, h.stdout, h.componentLog(c.name))
	if next == nil {
		c.log.Error("cannot rebuild after a runaway handler: the source no longer loads; calls fail until a good save", "error", ds.Error())
		return
	}
	if err := c.replace(next); err != nil {
		c.log.Error("rebuild after a runaway handler", "error", err)
		return
	}
	h.metrics.rebuilds.WithLabelValues(c.name, "runaway").Inc()
	c.log.Info("interpreter rebuilt after a runaway handler")
}

// Check loads every component's scripts and binds every handler without
// touching the network: what `wamphost validate` runs. It returns all
// problems found, with warnings.
func Check(cfg *loader.Config) diag.Diagnostics {
	var all diag.Diagnostics
	for _, cc := range cfg.Components {
		g, ds := build(cc, nil, nil)
		all = append(all, ds...)
		if g != nil {
			g.retire()
		}
	}
	return all
}

// Start builds every component, starts the embedded router (unless the
// config has no router block and no component joins it) and joins each
// component to its realm. On error, whatever was started is stopped again.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	gens := map[string]*generation{}
	var problems diag.Diagnostics
	for _, cc := range h.cfg.Components {
		g, ds := build(cc, h.stdout, h.componentLog(cc.Name))
		problems = append(problems, ds...)
		if g != nil {
			gens[cc.Name] = g
		}
	}
	if problems.HasErrors() {
		for _, g := range gens {
			g.retire()
		}
		return problems
	}
	for _, d := range problems {
		h.log.Warn(d.Summary, "pos", d.Pos.String(), "detail", d.Detail)
	}
	if h.cfg.EmbeddedRouter() {
		r, err := startRouter(h.cfg, h.log.Named("router"), h.metrics.clientSessions)
		if err != nil {
			return err
		}
		h.router = r
	} else {
		h.log.Info("embedded router not started: no router block, and every component joins a named connection")
	}
	for _, cc := range h.cfg.Components {
		c := newComponent(h, cc)
		if err := c.start(ctx, gens[cc.Name]); err != nil {
			h.stopAllLocked(context.Background())
			return fmt.Errorf("component %s: %w", cc.Name, err)
		}
		h.comps[cc.Name] = c
	}
	h.metrics.components.Set(float64(len(h.comps)))
	h.started.Store(true)
	return nil
}

func (h *Host) componentLog(name string) hclog.Logger {
	return h.log.Named(name)
}

// Addr is the embedded router's listen address, once started.
func (h *Host) Addr() net.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.router == nil {
		return nil
	}
	return h.router.addr()
}

// URLs are the embedded router's listeners' addresses, as ws://, wss://,
// tcp://, tcps:// or unix:// URLs, once started.
func (h *Host) URLs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.router == nil {
		return nil
	}
	return h.router.urls()
}

// Router is the embedded nexus router, once started. It exists so that
// benchmarks can attach compiled Go handlers to the very router and
// listener setup wamphost serves, as the ceiling for interpreted ones.
func (h *Host) Router() router.Router {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.router == nil {
		return nil
	}
	return h.router.nexus
}

// Shutdown stops taking new calls, lets calls in flight finish until ctx
// ends, runs each component's OnLeave, leaves the realms and closes the
// router.
func (h *Host) Shutdown(ctx context.Context) error {
	h.stopping.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopAllLocked(ctx)
}

func (h *Host) stopAllLocked(ctx context.Context) error {
	var wg sync.WaitGroup
	var errs []error
	var errMu sync.Mutex
	for name, c := range h.comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.stop(ctx); err != nil {
				errMu.Lock()
				errs = append(errs, fmt.Errorf("component %s: %w", name, err))
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.comps = map[string]*component{}
	h.metrics.components.Set(0)
	if h.router != nil {
		h.router.close()
		h.router = nil
	}
	return errors.Join(errs...)
}

// drainTimeout bounds how long a retired generation waits for its calls
// when no deadline is given.
const drainTimeout = 30 * time.Second
