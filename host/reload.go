package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/hcl/v2"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/loader"
)

// Report says what one reload did.
type Report struct {
	Started  []string // components added
	Stopped  []string // components removed
	Rebuilt  []string // components whose code or config changed
	Duration time.Duration
	// Diagnostics holds what was wrong when the reload was refused, and
	// warnings otherwise.
	Diagnostics diag.Diagnostics
}

// Changed reports whether the reload touched anything.
func (r *Report) Changed() bool {
	return len(r.Started)+len(r.Stopped)+len(r.Rebuilt) > 0
}

func (r *Report) String() string {
	if !r.Changed() {
		return "nothing changed"
	}
	var parts []string
	add := func(label string, names []string) {
		if len(names) > 0 {
			parts = append(parts, label+" "+strings.Join(names, ","))
		}
	}
	add("started", r.Started)
	add("rebuilt", r.Rebuilt)
	add("stopped", r.Stopped)
	return strings.Join(parts, "; ")
}

// Reload applies cfg to the running host. Every changed component is built
// first; if any build fails, nothing that is running changes and the error
// holds the diagnostics. Then new components start, changed ones swap in
// their new code without dropping a call, and removed ones stop. Untouched
// components keep their interpreter, session and calls in flight.
func (h *Host) Reload(ctx context.Context, cfg *loader.Config) (*Report, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	start := time.Now()
	rep := &Report{}
	if h.stopping.Load() {
		return rep, errors.New("shutting down")
	}
	if msg := routerChange(h.cfg.Router, cfg.Router); msg != "" {
		rep.Diagnostics = append(rep.Diagnostics, diag.Diagnostic{Severity: diag.Warning, Pos: diag.Pos{File: cfg.File},
			Summary: "router settings changed", Detail: msg + "; restart wamphost to apply them"})
	}

	type plan struct {
		cc   *loader.Component
		next *generation
	}
	var starts, rebuilds []plan
	var problems diag.Diagnostics
	keep := map[string]bool{}
	for _, cc := range cfg.Components {
		keep[cc.Name] = true
		c, running := h.comps[cc.Name]
		hash := sourceHash(cc.Source)
		if running {
			g := c.current()
			if g.hash == hash && sameComponent(g.cfg, cc) {
				continue
			}
			if g.cfg.Realm != cc.Realm {
				// A component that moves realm needs a new session.
				problems = append(problems, diag.Diagnostic{Severity: diag.Error, Pos: pos(cc.Range), Summary: "realm changed",
					Detail: fmt.Sprintf("component %q moves from realm %s to %s: rename the component (or restart) to move it", cc.Name, g.cfg.Realm, cc.Realm)})
				continue
			}
		}
		next, ds := build(cc, h.stdout, h.componentLog(cc.Name))
		problems = append(problems, ds...)
		if next == nil {
			continue
		}
		if running {
			rebuilds = append(rebuilds, plan{cc, next})
		} else {
			starts = append(starts, plan{cc, next})
		}
	}
	if problems.HasErrors() {
		for _, p := range append(starts, rebuilds...) {
			p.next.retire()
		}
		rep.Diagnostics = append(rep.Diagnostics, problems...)
		rep.Duration = time.Since(start)
		return rep, rep.Diagnostics
	}
	rep.Diagnostics = append(rep.Diagnostics, problems...)

	if err := h.addRealms(cfg.Router.Realms); err != nil {
		return rep, err
	}
	var errs []error
	for _, p := range starts {
		c := newComponent(h, p.cc)
		if err := c.start(ctx, p.next); err != nil {
			p.next.retire()
			errs = append(errs, fmt.Errorf("component %s: %w", p.cc.Name, err))
			continue
		}
		h.comps[p.cc.Name] = c
		rep.Started = append(rep.Started, p.cc.Name)
	}
	for _, p := range rebuilds {
		if err := h.comps[p.cc.Name].replace(p.next); err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", p.cc.Name, err))
			continue
		}
		rep.Rebuilt = append(rep.Rebuilt, p.cc.Name)
	}
	for name, c := range h.comps {
		if keep[name] {
			continue
		}
		stopCtx, cancel := context.WithTimeout(ctx, h.cfg.ShutdownGrace)
		if err := c.stop(stopCtx); err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", name, err))
		}
		cancel()
		delete(h.comps, name)
		rep.Stopped = append(rep.Stopped, name)
	}
	h.removeRealms(cfg.Router.Realms)
	newCfg := *cfg
	newCfg.Router = h.cfg.Router
	newCfg.Router.Realms = cfg.Router.Realms
	h.cfg = &newCfg
	h.defaultTimeout.Store(int64(newCfg.CallTimeout))
	sort.Strings(rep.Started)
	sort.Strings(rep.Rebuilt)
	sort.Strings(rep.Stopped)
	h.metrics.components.Set(float64(len(h.comps)))
	for _, name := range rep.Rebuilt {
		h.metrics.rebuilds.WithLabelValues(name, "reload").Inc()
	}
	rep.Duration = time.Since(start)
	return rep, errors.Join(errs...)
}

// addRealms adds realms new in the config to the running router.
func (h *Host) addRealms(realms []*loader.Realm) error {
	have := map[string]bool{}
	for _, r := range h.cfg.Router.Realms {
		have[r.Name] = true
	}
	for _, r := range realms {
		if !have[r.Name] {
			if err := h.router.nexus.AddRealm(realmConfig(r)); err != nil {
				return fmt.Errorf("add realm %s: %w", r.Name, err)
			}
			h.log.Info("realm added", "realm", r.Name)
		}
	}
	return nil
}

// removeRealms removes realms gone from the config, after the components
// in them have stopped; their clients are told wamp.close.system_shutdown.
func (h *Host) removeRealms(realms []*loader.Realm) {
	want := map[string]bool{}
	for _, r := range realms {
		want[r.Name] = true
	}
	for _, r := range h.cfg.Router.Realms {
		if !want[r.Name] {
			h.router.nexus.RemoveRealm(nxwamp.URI(r.Name))
			h.log.Info("realm removed", "realm", r.Name)
		}
	}
}

func routerChange(a, b loader.Router) string {
	var diffs []string
	if a.Listen != b.Listen {
		diffs = append(diffs, "listen")
	}
	if a.Path != b.Path {
		diffs = append(diffs, "path")
	}
	if a.MaxMessageSize != b.MaxMessageSize {
		diffs = append(diffs, "max_message_size")
	}
	if !reflect.DeepEqual(a.AllowOrigins, b.AllowOrigins) {
		diffs = append(diffs, "allow_origins")
	}
	if len(diffs) == 0 {
		return ""
	}
	return strings.Join(diffs, ", ") + " changed"
}

// sameComponent compares two component blocks, ignoring source positions.
func sameComponent(a, b *loader.Component) bool {
	return reflect.DeepEqual(stripRanges(a), stripRanges(b))
}

func stripRanges(c *loader.Component) loader.Component {
	out := *c
	out.Range, out.SourceRange = hcl.Range{}, hcl.Range{}
	out.Registers = stripBindings(c.Registers)
	out.Subscribes = stripBindings(c.Subscribes)
	return out
}

func stripBindings(bs []*loader.Binding) []*loader.Binding {
	out := make([]*loader.Binding, len(bs))
	for i, b := range bs {
		cp := *b
		cp.Range, cp.HandlerRange = hcl.Range{}, hcl.Range{}
		out[i] = &cp
	}
	return out
}

// sourceHash fingerprints a component's scripts so that a save that
// changes nothing (or touches only an editor's temp file) does nothing.
func sourceHash(source string) string {
	h := sha256.New()
	files := []string{source}
	if st, err := os.Stat(source); err == nil && st.IsDir() {
		entries, _ := os.ReadDir(source)
		files = files[:0]
		for _, e := range entries {
			if isScriptName(e.Name()) {
				files = append(files, filepath.Join(source, e.Name()))
			}
		}
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(h, "%s: %v\n", f, err)
			continue
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// isScriptName is true for the files interp loads from a directory.
func isScriptName(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") && !strings.HasPrefix(name, ".")
}

func pos(r hcl.Range) diag.Pos {
	return diag.Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column}
}

// Sources lists every component's source path, for the watcher.
func (h *Host) Sources() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.cfg.Components))
	for _, cc := range h.cfg.Components {
		out = append(out, cc.Source)
	}
	return out
}

// ReloadFile loads the config file at path and applies it, logging one
// line with what changed and how long it took, or why nothing did. A
// failed reload leaves the running version serving.
func (h *Host) ReloadFile(ctx context.Context, path string, diagOut io.Writer) (*Report, error) {
	start := time.Now()
	cfg, ds := loader.Load(path)
	if ds.HasErrors() {
		rep := &Report{Diagnostics: ds, Duration: time.Since(start)}
		h.logReload(rep, ds, diagOut)
		return rep, ds
	}
	rep, err := h.Reload(ctx, cfg)
	rep.Diagnostics = append(ds, rep.Diagnostics...)
	rep.Duration = time.Since(start)
	h.logReload(rep, err, diagOut)
	return rep, err
}

func (h *Host) logReload(rep *Report, err error, diagOut io.Writer) {
	h.metrics.recordReload(err == nil)
	if err != nil {
		h.log.Error("reload failed; the previous version keeps serving", "error", err.Error(), "took", rep.Duration.Round(time.Microsecond))
		var ds diag.Diagnostics
		if diagOut != nil && errors.As(err, &ds) {
			diag.Write(diagOut, ds)
		}
		return
	}
	for _, d := range rep.Diagnostics {
		h.log.Warn(d.Summary, "pos", d.Pos.String(), "detail", d.Detail)
	}
	if !rep.Changed() {
		h.log.Debug("reload: nothing changed", "took", rep.Duration.Round(time.Microsecond))
		return
	}
	h.log.Info("reloaded", "changes", rep.String(), "took", rep.Duration.Round(time.Microsecond))
}
