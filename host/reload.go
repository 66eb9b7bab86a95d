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
	if h.router != nil {
		rep.Diagnostics = append(rep.Diagnostics, routerChanges(h.cfg.Router, cfg.Router, cfg.File)...)
	}

	type plan struct {
		cc   *loader.Component
		next *generation
	}
	var starts, rebuilds, resessions []plan
	var problems diag.Diagnostics
	keep := map[string]bool{}
	for _, cc := range cfg.Components {
		keep[cc.Name] = true
		c, running := h.comps[cc.Name]
		hash := sourceHash(cc.Source)
		if running {
			g := c.current()
			if g.hash == hash && sameComponent(g.cfg, cc) && !c.gaveUp() {
				continue
			}
		}
		next, ds := build(cc, h.stdout, h.componentLog(cc.Name))
		problems = append(problems, ds...)
		if next == nil {
			continue
		}
		switch {
		case running && (!sameConnection(c.current().cfg, cc) || c.gaveUp()):
			// Another router, realm or credential: only a new session
			// can carry it. A component that gave up reconnecting gets
			// one too: a reload is how an operator says "try again".
			resessions = append(resessions, plan{cc, next})
		case running:
			rebuilds = append(rebuilds, plan{cc, next})
		default:
			starts = append(starts, plan{cc, next})
		}
	}
	if problems.HasErrors() {
		for _, p := range append(append(starts, rebuilds...), resessions...) {
			p.next.retire()
		}
		rep.Diagnostics = append(rep.Diagnostics, problems...)
		rep.Duration = time.Since(start)
		return rep, rep.Diagnostics
	}
	rep.Diagnostics = append(rep.Diagnostics, problems...)

	// A config that starts needing the embedded router gets it now, with
	// its listeners as written: nothing listened before, so nothing is
	// left for a restart to apply. One that stops needing it keeps it
	// running until a restart, not to cut off the clients on it.
	routerStarted := false
	if h.router == nil && cfg.EmbeddedRouter() {
		r, err := startRouter(cfg, h.log.Named("router"), h.metrics.clientSessions)
		if err != nil {
			rep.Duration = time.Since(start)
			return rep, fmt.Errorf("start the embedded router: %w", err)
		}
		h.router, routerStarted = r, true
	} else if h.router != nil {
		if err := h.applyRealms(cfg); err != nil {
			return rep, err
		}
	}
	var errs []error
	for _, p := range starts {
		if err := h.startComponent(ctx, p.cc, p.next); err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", p.cc.Name, err))
			continue
		}
		rep.Started = append(rep.Started, p.cc.Name)
	}
	for _, p := range rebuilds {
		if err := h.comps[p.cc.Name].replace(p.next); err != nil {
			errs = append(errs, fmt.Errorf("component %s: %w", p.cc.Name, err))
			continue
		}
		rep.Rebuilt = append(rep.Rebuilt, p.cc.Name)
	}
	for _, p := range resessions {
		old := h.comps[p.cc.Name]
		stopCtx, cancel := context.WithTimeout(ctx, h.cfg.ShutdownGrace)
		if err := old.stop(stopCtx); err != nil {
			h.log.Warn("leaving the old session", "component", p.cc.Name, "error", err)
		}
		cancel()
		delete(h.comps, p.cc.Name)
		if err := h.startComponent(ctx, p.cc, p.next); err != nil {
			errs = append(errs, fmt.Errorf("component %s: new session: %w", p.cc.Name, err))
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
	newCfg := *cfg
	if h.router != nil && !routerStarted {
		h.removeRealms(cfg.Router.Realms)
		newCfg.Router = h.cfg.Router
		newCfg.Router.Realms = runningRealms(h.cfg.Router.Realms, cfg.Router.Realms)
	}
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

// applyRealms adds realms new in the config to the running router and
// swaps in the new rules (roles, principals, anonymous and components
// roles) of the others, dropping only the sessions the new rules refuse.
func (h *Host) applyRealms(cfg *loader.Config) error {
	have := map[string]*loader.Realm{}
	for _, r := range h.cfg.Router.Realms {
		have[r.Name] = r
	}
	for _, r := range cfg.Router.Realms {
		if have[r.Name] == nil {
			if err := h.router.addRealm(r, cfg.Components); err != nil {
				return err
			}
			h.log.Info("realm added", "realm", r.Name)
			continue
		}
		if n := h.router.updateRealm(r, cfg.Components); n > 0 {
			h.log.Info("sessions dropped: their credentials or role changed", "realm", r.Name, "sessions", n)
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
			delete(h.router.guards, r.Name)
			h.log.Info("realm removed", "realm", r.Name)
		}
	}
}

// routerChanges warns of router settings a reload cannot apply: the
// listeners, and the realm options nexus fixes when it creates a realm.
func routerChanges(a, b loader.Router, file string) diag.Diagnostics {
	var out diag.Diagnostics
	warn := func(rng hcl.Range, summary, detail string) {
		p := pos(rng)
		if p.File == "" {
			p = diag.Pos{File: file}
		}
		out = append(out, diag.Diagnostic{Severity: diag.Warning, Pos: p, Summary: summary, Detail: detail})
	}
	if !reflect.DeepEqual(stripListeners(a.Listeners), stripListeners(b.Listeners)) {
		warn(hcl.Range{}, "router settings changed", "listeners changed; restart wamphost to apply them")
	}
	old := map[string]*loader.Realm{}
	for _, r := range a.Realms {
		old[r.Name] = r
	}
	for _, r := range b.Realms {
		if o := old[r.Name]; o != nil {
			if diffs := fixedRealmDiffs(o, r); len(diffs) > 0 {
				warn(r.Range, "realm settings changed", fmt.Sprintf("realm %s: %s changed; restart wamphost to apply (roles, principals, anonymous and components_role applied now)", r.Name, strings.Join(diffs, ", ")))
			}
		}
	}
	return out
}

func stripListeners(ls []*loader.Listener) []loader.Listener {
	out := make([]loader.Listener, len(ls))
	for i, l := range ls {
		out[i] = *l
		out[i].Range = hcl.Range{}
	}
	return out
}

// fixedRealmDiffs names the realm options that only apply when the realm
// is created.
func fixedRealmDiffs(a, b *loader.Realm) []string {
	var diffs []string
	check := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			diffs = append(diffs, name)
		}
	}
	check("strict_uri", a.StrictURI, b.StrictURI)
	check("allow_disclose", a.AllowDisclose, b.AllowDisclose)
	check("meta_strict", a.MetaStrict, b.MetaStrict)
	check("meta_include_session_details", a.MetaIncludeSessionDetails, b.MetaIncludeSessionDetails)
	check("enable_meta_kill", a.EnableMetaKill, b.EnableMetaKill)
	check("enable_meta_modify", a.EnableMetaModify, b.EnableMetaModify)
	var ha, hb []loader.EventHistory
	for _, h := range a.EventHistory {
		ha = append(ha, loader.EventHistory{Topic: h.Topic, Match: h.Match, Limit: h.Limit})
	}
	for _, h := range b.EventHistory {
		hb = append(hb, loader.EventHistory{Topic: h.Topic, Match: h.Match, Limit: h.Limit})
	}
	check("event_history", ha, hb)
	return diffs
}

// runningRealms is the new realm list as the router now serves it: the
// new rules, with the creation-time options of realms that were running.
func runningRealms(old, next []*loader.Realm) []*loader.Realm {
	was := map[string]*loader.Realm{}
	for _, r := range old {
		was[r.Name] = r
	}
	out := make([]*loader.Realm, len(next))
	for i, r := range next {
		cp := *r
		if o := was[r.Name]; o != nil {
			cp.StrictURI, cp.AllowDisclose, cp.MetaStrict = o.StrictURI, o.AllowDisclose, o.MetaStrict
			cp.MetaIncludeSessionDetails, cp.EnableMetaKill, cp.EnableMetaModify = o.MetaIncludeSessionDetails, o.EnableMetaKill, o.EnableMetaModify
			cp.EventHistory = o.EventHistory
		}
		out[i] = &cp
	}
	return out
}

// sameConnection says whether two versions of a component can share one
// session: same router, realm and connection settings.
func sameConnection(a, b *loader.Component) bool {
	sa, sb := stripRanges(a), stripRanges(b)
	return a.Router == b.Router && a.Realm == b.Realm && reflect.DeepEqual(sa.Connection, sb.Connection)
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
	if c.Connection != nil {
		cp := *c.Connection
		cp.Range = hcl.Range{}
		out.Connection = &cp
	}
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

// startComponent joins a built generation as a running component; on
// failure the generation is retired and nothing is added.
func (h *Host) startComponent(ctx context.Context, cc *loader.Component, g *generation) error {
	c := newComponent(h, cc)
	if err := c.start(ctx, g); err != nil {
		g.retire()
		return err
	}
	h.comps[cc.Name] = c
	return nil
}
