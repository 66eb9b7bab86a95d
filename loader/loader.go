// Package loader turns a components.hcl file (or its JSON twin) into a
// checked Config. Every problem it finds is a diagnostic with the file, line
// and column of the offending text. It knows nothing of WAMP sessions or of
// the script interpreter: whether a handler exists is for interp to say.
package loader

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyconvert "github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/wamphost/wamphost/internal/diag"
)

// The raw* types mirror the file's schema. Attributes that need a range in
// their diagnostics are kept as expressions and evaluated by hand.
type rawFile struct {
	Router      *rawRouter       `hcl:"router,block"`
	Components  []*rawComponent  `hcl:"component,block"`
	Daemon      *rawDaemon       `hcl:"daemon,block"`
	Connections []*rawConnection `hcl:"connection,block"`
}

type rawDaemon struct {
	ShutdownGrace hcl.Expression `hcl:"shutdown_grace,optional"`
	CallTimeout   hcl.Expression `hcl:"call_timeout,optional"`
	Watch         *bool          `hcl:"watch,optional"`
	LogLevel      hcl.Expression `hcl:"log_level,optional"`
	MetricsListen hcl.Expression `hcl:"metrics_listen,optional"`
}

type rawComponent struct {
	Name         string         `hcl:"name,label"`
	Realm        hcl.Expression `hcl:"realm,optional"`
	Router       hcl.Expression `hcl:"router,optional"`
	Source       hcl.Expression `hcl:"source"`
	Config       hcl.Expression `hcl:"config,optional"`
	AllowImports []string       `hcl:"allow_imports,optional"`
	EventQueue   hcl.Expression `hcl:"event_queue,optional"`
	Registers    []*rawBinding  `hcl:"register,block"`
	Subscribes   []*rawBinding  `hcl:"subscribe,block"`
	DeclRange    hcl.Range      `hcl:",def_range"`
}

type rawBinding struct {
	URI            string         `hcl:"uri,label"`
	Handler        hcl.Expression `hcl:"handler"`
	Match          hcl.Expression `hcl:"match,optional"`
	Invoke         hcl.Expression `hcl:"invoke,optional"`
	DiscloseCaller hcl.Expression `hcl:"disclose_caller,optional"`
	Timeout        hcl.Expression `hcl:"timeout,optional"`
	Concurrency    hcl.Expression `hcl:"concurrency,optional"`
	DeclRange      hcl.Range      `hcl:",def_range"`
}

// Load reads and checks the config file at path. Files ending in .json are
// read as HCL's JSON syntax. The returned diagnostics may hold warnings even
// when the config is usable; the config is nil when they hold errors.
func Load(path string) (*Config, diag.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, diag.Diagnostics{{Severity: diag.Error, Pos: diag.Pos{File: path}, Summary: "cannot read config", Detail: err.Error()}}
	}
	return Parse(path, src)
}

// Parse is Load on a config already in memory; path names it in diagnostics
// and anchors its relative paths.
func Parse(path string, src []byte) (*Config, diag.Diagnostics) {
	p := hclparse.NewParser()
	var f *hcl.File
	var diags hcl.Diagnostics
	isJSON := strings.HasSuffix(path, ".json")
	if isJSON {
		f, diags = p.ParseJSON(src, path)
	} else {
		f, diags = p.ParseHCL(src, path)
	}
	if diags.HasErrors() {
		return nil, convert(firstSyntaxError(diags), p.Files())
	}
	if nd := checkNumbers(src, path, isJSON); nd.HasErrors() {
		return nil, convert(nd, p.Files())
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	d := &decoder{ctx: evalContext(dir), dir: dir, src: src, json: isJSON, blocks: map[hcl.Range]*hcl.Block{}}
	d.collectBlocks(f.Body, reflect.TypeOf(rawFile{}))
	var raw rawFile
	diags = append(diags, gohcl.DecodeBody(f.Body, d.ctx, &raw)...)
	if diags.HasErrors() {
		return nil, convert(diags, p.Files())
	}
	cfg := d.build(path, &raw)
	diags = append(diags, d.diags...)
	if diags.HasErrors() {
		return nil, convert(diags, p.Files())
	}
	return cfg, convert(diags, p.Files())
}

// firstSyntaxError keeps the earliest syntax error: after one mistake, such
// as an unterminated string, HCL's recovery reports follow-on errors on
// every later line, which only bury the real one.
func firstSyntaxError(diags hcl.Diagnostics) hcl.Diagnostics {
	var first *hcl.Diagnostic
	var warnings hcl.Diagnostics
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			warnings = append(warnings, d)
			continue
		}
		if first == nil || (d.Subject != nil && (first.Subject == nil || d.Subject.Start.Byte < first.Subject.Start.Byte)) {
			first = d
		}
	}
	return append(warnings, first)
}

type decoder struct {
	ctx   *hcl.EvalContext
	dir   string
	src   []byte
	json  bool
	diags hcl.Diagnostics
	// blocks finds a block's label ranges from its definition range, which
	// is all that gohcl hands over.
	blocks map[hcl.Range]*hcl.Block
}

// collectBlocks records every block of body, and of the blocks within it,
// following the raw* type that decodes it.
func (d *decoder) collectBlocks(body hcl.Body, t reflect.Type) {
	schema, _ := gohcl.ImpliedBodySchema(reflect.New(t).Interface())
	content, _, _ := body.PartialContent(schema)
	if content == nil {
		return
	}
	for _, b := range content.Blocks {
		d.blocks[b.DefRange] = b
		if et := blockType(t, b.Type); et != nil {
			d.collectBlocks(b.Body, et)
		}
	}
}

// blockType is the struct type that decodes blocks of the given type within t.
func blockType(t reflect.Type, name string) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("hcl"), ",")
		if len(tag) == 2 && tag[0] == name && tag[1] == "block" {
			et := t.Field(i).Type
			for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
				et = et.Elem()
			}
			return et
		}
	}
	return nil
}

// labelRange is the range of a block's last label, such as the URI of a
// register block: the text to underline when the label is at fault.
func (d *decoder) labelRange(def hcl.Range) hcl.Range {
	if b := d.blocks[def]; b != nil && len(b.LabelRanges) > 0 {
		return b.LabelRanges[len(b.LabelRanges)-1]
	}
	return def
}

// headerRange is what to underline when a block as a whole is at fault:
// `component "add2"` in HCL. In JSON the definition range is only the
// opening brace, so the label says more.
func (d *decoder) headerRange(def hcl.Range) hcl.Range {
	if d.json {
		return d.labelRange(def)
	}
	return def
}

func (d *decoder) errorf(rng hcl.Range, summary, detail string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: &r})
}

// present reports whether an optional attribute was given; gohcl fills
// absent ones with a null static expression.
func present(expr hcl.Expression) bool {
	if expr == nil {
		return false
	}
	v, diags := expr.Value(nil)
	return diags.HasErrors() || !v.IsNull()
}

// value evaluates an optional attribute and converts it to want. ok is false
// when the attribute is absent or wrong, the latter with a diagnostic.
func (d *decoder) value(expr hcl.Expression, want cty.Type, what string) (cty.Value, bool) {
	if !present(expr) {
		return cty.NilVal, false
	}
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	cv, err := ctyconvert.Convert(v, want)
	if err != nil {
		d.errorf(expr.Range(), "Incorrect attribute value type", "%s is required here, not %s.", what, v.Type().FriendlyName())
		return cty.NilVal, false
	}
	return cv, true
}

// integer evaluates an optional whole-number attribute, returning def when
// it is absent or wrong.
func (d *decoder) integer(expr hcl.Expression, def int) int {
	v, ok := d.value(expr, cty.Number, "A whole number")
	if !ok {
		return def
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if !bf.IsInt() {
		d.errorf(expr.Range(), "Incorrect attribute value type", "A whole number is required here, not %s.", bf.Text('g', -1))
		return def
	}
	if acc != big.Exact || int64(int(i)) != i {
		d.errorf(expr.Range(), "Number out of range", "%s is too large.", bf.Text('g', -1))
		return def
	}
	return int(i)
}

// boolean evaluates an optional bool attribute, returning def when it is
// absent or wrong.
func (d *decoder) boolean(expr hcl.Expression, def bool) bool {
	v, ok := d.value(expr, cty.Bool, "A bool (true or false)")
	if !ok {
		return def
	}
	return v.True()
}

// str evaluates an optional string attribute, returning def when it is
// absent or wrong.
func (d *decoder) str(expr hcl.Expression, def string) string {
	v, ok := d.value(expr, cty.String, "A string")
	if !ok {
		return def
	}
	return v.AsString()
}

func (d *decoder) build(path string, raw *rawFile) *Config {
	cfg := &Config{File: path, Dir: d.dir, ShutdownGrace: DefaultShutdownGrace, CallTimeout: DefaultCallTimeout}
	if raw.Daemon != nil {
		cfg.Watch = raw.Daemon.Watch
		if s := d.str(raw.Daemon.ShutdownGrace, ""); s != "" {
			cfg.ShutdownGrace = d.duration(raw.Daemon.ShutdownGrace.Range(), s)
		}
		if s := d.str(raw.Daemon.CallTimeout, ""); s != "" {
			cfg.CallTimeout = d.positiveDuration(raw.Daemon.CallTimeout.Range(), s)
		}
		cfg.LogLevel = d.str(raw.Daemon.LogLevel, "")
		switch cfg.LogLevel {
		case "", "trace", "debug", "info", "warn", "error":
		default:
			d.errorf(raw.Daemon.LogLevel.Range(), "Invalid log_level", "log_level must be \"trace\", \"debug\", \"info\", \"warn\" or \"error\"; %q is not.", cfg.LogLevel)
		}
		cfg.MetricsListen = d.str(raw.Daemon.MetricsListen, "")
		if cfg.MetricsListen != "" {
			if _, port, err := net.SplitHostPort(cfg.MetricsListen); err != nil || port == "" {
				d.errorf(raw.Daemon.MetricsListen.Range(), "Invalid metrics_listen address", "metrics_listen must be host:port, such as \"127.0.0.1:9180\", or \"\" to serve no metrics; %q is not.", cfg.MetricsListen)
			}
		}
	}
	cfg.Router = d.router(raw.Router)
	conns := d.connections(raw.Connections)
	for _, rc := range raw.Connections {
		if c := conns[rc.Name]; c != nil && c.Range == rc.DeclRange {
			cfg.Connections = append(cfg.Connections, c)
		}
	}
	realms := map[string]bool{}
	for _, r := range cfg.Router.Realms {
		realms[r.Name] = true
	}
	names := map[string]hcl.Range{}
	for _, rc := range raw.Components {
		if prev, dup := names[rc.Name]; dup {
			d.errorf(d.headerRange(rc.DeclRange), "Duplicate component", "A component named %q is already declared at %s.", rc.Name, d.at(prev))
			continue
		}
		names[rc.Name] = rc.DeclRange
		cfg.Components = append(cfg.Components, d.component(rc, cfg.Router.Realms, realms, conns))
	}
	for _, c := range cfg.Components {
		for _, b := range c.Bindings() {
			if b.Timeout == 0 {
				b.Timeout = cfg.CallTimeout
			}
		}
	}
	d.checkDuplicateURIs(cfg.Components)
	return cfg
}

func (d *decoder) duration(rng hcl.Range, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.errorf(rng, "Invalid duration", "%q is not a duration such as \"10s\" or \"500ms\".", s)
	}
	return v
}

func (d *decoder) positiveDuration(rng hcl.Range, s string) time.Duration {
	v := d.duration(rng, s)
	if v == 0 {
		d.errorf(rng, "Invalid duration", "A timeout must be longer than zero.")
	}
	return v
}

func (d *decoder) component(rc *rawComponent, declared []*Realm, realms map[string]bool, conns map[string]*Connection) *Component {
	c := &Component{Name: rc.Name, Range: rc.DeclRange, AllowImports: rc.AllowImports}
	c.EventQueue = d.integer(rc.EventQueue, DefaultEventQueue)
	if c.EventQueue < 1 {
		d.errorf(rc.EventQueue.Range(), "Invalid event_queue", "event_queue must be at least 1.")
	}
	c.Realm = d.str(rc.Realm, "")
	c.Router, c.Connection = d.componentRouter(rc.Router, conns)
	switch {
	case c.Router != "" && c.Realm == "":
		d.errorf(d.headerRange(rc.DeclRange), "Missing realm", "Component %q joins the external router %q: name the realm it joins there.", rc.Name, c.Router)
	case c.Router != "":
		if !validURI(c.Realm, "exact") {
			d.errorf(rc.Realm.Range(), "Malformed realm URI", "%q is not a valid WAMP URI (dot-separated parts, no spaces or '#').", c.Realm)
		}
	case c.Realm == "" && len(declared) == 1:
		c.Realm = declared[0].Name
	case c.Realm == "":
		d.errorf(d.headerRange(rc.DeclRange), "Missing realm", "Component %q must name its realm: the router declares several.", rc.Name)
	case !realms[c.Realm]:
		d.errorf(rc.Realm.Range(), "Unknown realm", "Realm %q is not declared in the router block (declared: %s).", c.Realm, realmList(declared))
	}

	c.SourceRange = rc.Source.Range()
	if src := d.str(rc.Source, ""); src == "" {
		d.errorf(rc.Source.Range(), "Missing source", "source must name a directory of .go files or one .go file.")
	} else {
		if !filepath.IsAbs(src) {
			src = filepath.Join(d.dir, src)
		}
		c.Source = filepath.Clean(src)
		if st, err := os.Stat(c.Source); err != nil {
			d.errorf(rc.Source.Range(), "Source not found", "%s does not exist. source is resolved relative to the config file's directory (%s).", c.Source, d.dir)
		} else if !st.IsDir() && !strings.HasSuffix(c.Source, ".go") {
			d.errorf(rc.Source.Range(), "Source is not a Go file", "%s is neither a directory nor a .go file.", c.Source)
		}
	}

	c.Config = d.freeform(rc.Config)

	for _, rb := range rc.Registers {
		c.Registers = append(c.Registers, d.binding(rb, Register))
	}
	topics := map[string]hcl.Range{}
	for _, rb := range rc.Subscribes {
		b := d.binding(rb, Subscribe)
		if prev, dup := topics[b.URI+"\x00"+b.Match]; dup {
			d.errorf(d.labelRange(b.Range), "Duplicate URI", "Component %q already subscribes to %q at %s.", c.Name, b.URI, d.at(prev))
		}
		topics[b.URI+"\x00"+b.Match] = b.Range
		c.Subscribes = append(c.Subscribes, b)
	}
	return c
}

// freeform turns the config attribute into plain Go values through JSON, so
// scripts see exactly what encoding/json would give them.
func (d *decoder) freeform(expr hcl.Expression) map[string]any {
	if expr == nil {
		return nil
	}
	v, diags := expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || v.IsNull() {
		return nil
	}
	if !v.Type().IsObjectType() && !v.Type().IsMapType() {
		d.errorf(expr.Range(), "Incorrect attribute value type", "config must be an object such as { greeting = \"hello\" }, not %s.", v.Type().FriendlyName())
		return nil
	}
	js, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		d.errorf(expr.Range(), "Invalid config value", "%s", err)
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(js, &out); err != nil {
		d.errorf(expr.Range(), "Invalid config value", "%s", err)
	}
	return out
}

var handlerName = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*$`)

func (d *decoder) binding(rb *rawBinding, kind Kind) *Binding {
	b := &Binding{Kind: kind, URI: rb.URI, Range: rb.DeclRange, HandlerRange: rb.Handler.Range()}
	b.Handler = d.str(rb.Handler, "")
	if !present(rb.Handler) {
		d.errorf(d.headerRange(rb.DeclRange), "Missing handler", "%s %q needs handler = \"FuncName\", naming an exported function of the component's scripts.", kind, rb.URI)
	} else if b.Handler == "" {
		d.errorf(rb.Handler.Range(), "Missing handler name", "handler must name an exported function of the component's scripts, such as \"Add2\".")
	} else if !handlerName.MatchString(b.Handler) {
		d.errorf(rb.Handler.Range(), "Invalid handler name", "%q is not an exported Go function name: it must start with an upper-case letter.", b.Handler)
	}
	b.Match = d.str(rb.Match, "exact")
	if !oneOf(b.Match, "exact", "prefix", "wildcard") {
		d.errorf(rb.Match.Range(), "Invalid match", "match must be \"exact\", \"prefix\" or \"wildcard\", not %q.", b.Match)
	}
	if s := d.str(rb.Timeout, ""); s != "" {
		b.Timeout = d.positiveDuration(rb.Timeout.Range(), s)
	}
	if kind == Register {
		b.Concurrency = d.integer(rb.Concurrency, DefaultConcurrency)
		if b.Concurrency < 1 {
			d.errorf(rb.Concurrency.Range(), "Invalid concurrency", "concurrency must be at least 1.")
		}
		b.Invoke = d.str(rb.Invoke, "single")
		if !oneOf(b.Invoke, "single", "roundrobin", "random", "first", "last") {
			d.errorf(rb.Invoke.Range(), "Invalid invoke policy", "invoke must be one of single, roundrobin, random, first, last; not %q.", b.Invoke)
		}
		b.DiscloseCaller = d.boolean(rb.DiscloseCaller, false)
	} else {
		if present(rb.Invoke) {
			d.errorf(rb.Invoke.Range(), "Unsupported argument", "invoke applies to register blocks only.")
		}
		if present(rb.DiscloseCaller) {
			d.errorf(rb.DiscloseCaller.Range(), "Unsupported argument", "disclose_caller applies to register blocks only; publishers choose to disclose themselves.")
		}
		if present(rb.Concurrency) {
			d.errorf(rb.Concurrency.Range(), "Unsupported argument", "concurrency applies to register blocks only; a subscription delivers its events one at a time, in order.")
		}
	}
	if !validURI(b.URI, b.Match) {
		d.errorf(d.labelRange(rb.DeclRange), "Malformed URI", "%q is not a valid WAMP URI for match %q: use dot-separated parts without spaces or '#'%s.", b.URI, b.Match, wildcardHint(b.Match))
	} else if kind == Register && strings.HasPrefix(b.URI, "wamp.") {
		d.errorf(d.labelRange(rb.DeclRange), "Reserved URI", "URIs starting with \"wamp.\" are reserved for the router.")
	}
	return b
}

func wildcardHint(match string) string {
	if match == "wildcard" {
		return " (empty parts are allowed: com..add)"
	}
	return ""
}

// checkDuplicateURIs rejects two registrations of one URI in one realm: the
// router would refuse the second, at run time and far from the cause.
func (d *decoder) checkDuplicateURIs(comps []*Component) {
	type key struct{ router, realm, uri, match string }
	seen := map[key]*Binding{}
	owner := map[key]string{}
	for _, c := range comps {
		for _, b := range c.Registers {
			k := key{c.Router, c.Realm, b.URI, b.Match}
			if prev, dup := seen[k]; dup {
				d.errorf(d.labelRange(b.Range), "Duplicate URI", "%q is already registered in realm %q by component %q at %s.", b.URI, c.Realm, owner[k], d.at(d.labelRange(prev.Range)))
				continue
			}
			seen[k] = b
			owner[k] = c.Name
		}
	}
}

var (
	uriExact    = regexp.MustCompile(`^([^\s.#]+\.)*[^\s.#]+$`)
	uriPrefix   = regexp.MustCompile(`^([^\s.#]+\.)*[^\s.#]*$`)
	uriWildcard = regexp.MustCompile(`^([^\s.#]*\.)*[^\s.#]*$`)
)

// validURI applies the WAMP spec's loose URI rules: strict enough to catch
// typos, loose enough for every router we attach to. A prefix may end in a
// dot ("com.myapp." matches com.myapp.add2 but not com.myapplication), as
// Autobahn allows.
func validURI(uri, match string) bool {
	switch {
	case uri == "":
		return false
	case match == "wildcard":
		return uriWildcard.MatchString(uri) && strings.Contains(uri, ".")
	case match == "prefix":
		return uriPrefix.MatchString(uri)
	}
	return uriExact.MatchString(uri)
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func realmList(rs []*Realm) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// at names a position the way diagnostics print it, for details that point
// at a second place.
func (d *decoder) at(r hcl.Range) string {
	return diagPos(d.src, r.Filename, r.Start).String()
}

// convert turns HCL diagnostics into the shared shape, with the offending
// line taken from the parsed file so that even stdin configs show it.
func convert(hds hcl.Diagnostics, files map[string]*hcl.File) diag.Diagnostics {
	var out diag.Diagnostics
	for _, hd := range hds {
		d := diag.Diagnostic{Severity: diag.Error, Summary: hd.Summary, Detail: hd.Detail}
		if hd.Severity == hcl.DiagWarning {
			d.Severity = diag.Warning
		}
		s := hd.Subject
		// A failed call's subject is only `env(`; the whole call, which
		// HCL gives as context, is what the user wrote wrong.
		if _, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](hd); ok && hd.Context != nil {
			s = hd.Context
		}
		if s != nil {
			var src []byte
			if f := files[s.Filename]; f != nil {
				src = f.Bytes
			}
			d.Pos = diagPos(src, s.Filename, s.Start)
			d.End = diagPos(src, s.Filename, s.End)
			d.Source = lineOf(src, s.Start.Line)
		}
		out = append(out, d)
	}
	return out
}

// diagPos turns an HCL position into a diag one. HCL counts columns in
// characters, diag (like go/token) in bytes, so the column is recomputed
// from the byte offset when the source is at hand.
func diagPos(src []byte, file string, p hcl.Pos) diag.Pos {
	dp := diag.Pos{File: file, Line: p.Line, Column: p.Column}
	if p.Byte < 0 || p.Byte > len(src) {
		return dp
	}
	start := bytes.LastIndexByte(src[:p.Byte], '\n') + 1
	if bytes.Count(src[:start], []byte("\n"))+1 == p.Line {
		dp.Column = p.Byte - start + 1
	}
	return dp
}

func lineOf(src []byte, n int) string {
	if len(src) == 0 {
		return ""
	}
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimRight(lines[n-1], "\r")
}
