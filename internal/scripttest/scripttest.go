// Package scripttest runs component handler tests without a router: it
// loads each component's scripts through interp exactly as the daemon does,
// joins them to an in-memory realm that answers calls between components
// and records publications, and checks the expectations written in
// *.test.hcl files. It is what `wamphost test` runs.
package scripttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/wamphost/wamphost/interp"
	"github.com/wamphost/wamphost/loader"
	"github.com/wamphost/wamphost/wamp"
)

// A test file holds test blocks; each runs its steps in order on freshly
// loaded components:
//
//	test "adds" {
//	  call "com.myapp.add2" {
//	    args = [2, 3]
//	    expect { args = [5] }
//	  }
//	  call "com.myapp.div" {
//	    args = [1, 0]
//	    expect_error { uri = "com.myapp.error.div_by_zero" }
//	  }
//	  publish "com.myapp.oncounter" { args = [1] }
//	  expect_event "com.myapp.log" { args = ["counted", 1] }
//	}
//
// args and kwargs expectations compare exactly; args_contain and
// kwargs_contain instead name values that must be among the args and keys
// that must be among the kwargs.
type fileSchema struct {
	Tests []*testBlock `hcl:"test,block"`
}

type testBlock struct {
	Name  string   `hcl:"name,label"`
	Steps hcl.Body `hcl:",remain"`
}

type callBlock struct {
	URI         string         `hcl:"uri,label"`
	Args        hcl.Expression `hcl:"args,optional"`
	Kwargs      hcl.Expression `hcl:"kwargs,optional"`
	Timeout     *string        `hcl:"timeout,optional"`
	Expect      *payloadBlock  `hcl:"expect,block"`
	ExpectError *errorBlock    `hcl:"expect_error,block"`
}

type payloadBlock struct {
	Args          hcl.Expression `hcl:"args,optional"`
	Kwargs        hcl.Expression `hcl:"kwargs,optional"`
	ArgsContain   hcl.Expression `hcl:"args_contain,optional"`
	KwargsContain hcl.Expression `hcl:"kwargs_contain,optional"`
}

type errorBlock struct {
	URI           hcl.Expression `hcl:"uri"`
	Args          hcl.Expression `hcl:"args,optional"`
	Kwargs        hcl.Expression `hcl:"kwargs,optional"`
	ArgsContain   hcl.Expression `hcl:"args_contain,optional"`
	KwargsContain hcl.Expression `hcl:"kwargs_contain,optional"`
}

type eventBlock struct {
	Topic         string         `hcl:"topic,label"`
	Args          hcl.Expression `hcl:"args,optional"`
	Kwargs        hcl.Expression `hcl:"kwargs,optional"`
	ArgsContain   hcl.Expression `hcl:"args_contain,optional"`
	KwargsContain hcl.Expression `hcl:"kwargs_contain,optional"`
	Timeout       *string        `hcl:"timeout,optional"`
}

// expectation is what expect, expect_error and expect_event check of a
// payload.
type expectation struct {
	args, kwargs, argsContain, kwargsContain hcl.Expression
}

func (b *payloadBlock) expectation() expectation {
	return expectation{b.Args, b.Kwargs, b.ArgsContain, b.KwargsContain}
}

func (b *errorBlock) expectation() expectation {
	return expectation{b.Args, b.Kwargs, b.ArgsContain, b.KwargsContain}
}

func (b *eventBlock) expectation() expectation {
	return expectation{b.Args, b.Kwargs, b.ArgsContain, b.KwargsContain}
}

var stepSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "call", LabelNames: []string{"uri"}},
	{Type: "publish", LabelNames: []string{"topic"}},
	{Type: "expect_event", LabelNames: []string{"topic"}},
}}

// Options say what to run.
type Options struct {
	// Config is the components.hcl whose components are under test.
	Config *loader.Config
	// Files are the test files; Discover finds the usual ones.
	Files []string
	// Out receives one line per test, and script logs when Verbose.
	Out     io.Writer
	Verbose bool
	// Run, when set, keeps only tests whose name contains it.
	Run string
}

// Summary counts the outcome.
type Summary struct {
	Passed, Failed int
}

// Discover lists *.test.hcl next to the config and tests/*.hcl below it.
func Discover(dir string) []string {
	a, _ := filepath.Glob(filepath.Join(dir, "*.test.hcl"))
	b, _ := filepath.Glob(filepath.Join(dir, "tests", "*.hcl"))
	out := append(a, b...)
	sort.Strings(out)
	return out
}

// Run runs every test in the files. A problem with a test file itself (a
// syntax error) is returned as diagnostics and no test runs.
func Run(opts Options) (Summary, hcl.Diagnostics) {
	var sum Summary
	var all []*testBlock
	files := map[*testBlock]string{}
	for _, f := range opts.Files {
		src, err := os.ReadFile(f)
		if err != nil {
			return sum, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "cannot read test file", Detail: err.Error(), Subject: &hcl.Range{Filename: f}}}
		}
		file, ds := hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		if ds.HasErrors() {
			return sum, ds
		}
		var fs fileSchema
		if ds := gohcl.DecodeBody(file.Body, nil, &fs); ds.HasErrors() {
			return sum, ds
		}
		for _, t := range fs.Tests {
			if opts.Run != "" && !strings.Contains(t.Name, opts.Run) {
				continue
			}
			all = append(all, t)
			files[t] = f
		}
	}
	for _, t := range all {
		start := time.Now()
		fails, ds := runTest(opts, t)
		if ds.HasErrors() {
			return sum, ds
		}
		if len(fails) == 0 {
			sum.Passed++
			fmt.Fprintf(opts.Out, "PASS %s (%s)\n", t.Name, time.Since(start).Round(time.Millisecond))
			continue
		}
		sum.Failed++
		fmt.Fprintf(opts.Out, "FAIL %s (%s)\n", t.Name, time.Since(start).Round(time.Millisecond))
		for _, f := range fails {
			fmt.Fprintf(opts.Out, "    %s\n", f)
		}
	}
	return sum, nil
}

func at(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// runTest loads fresh components, so tests never see each other's state.
func runTest(opts Options, t *testBlock) (fails []string, ds hcl.Diagnostics) {
	logOut := io.Discard
	if opts.Verbose {
		logOut = opts.Out
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Output: logOut, Level: hclog.Debug})
	realm, err := newRealm(opts.Config, log, logOut)
	if err != nil {
		return []string{err.Error()}, nil
	}
	defer realm.stop()
	content, ds := t.Steps.Content(stepSchema)
	if ds.HasErrors() {
		return nil, ds
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "call":
			var cb callBlock
			if ds := gohcl.DecodeBody(b.Body, nil, &cb); ds.HasErrors() {
				return nil, ds
			}
			cb.URI = b.Labels[0]
			if f := realm.runCall(&cb, b.DefRange); f != "" {
				fails = append(fails, f)
			}
		case "publish":
			var eb eventBlock
			if ds := gohcl.DecodeBody(b.Body, nil, &eb); ds.HasErrors() {
				return nil, ds
			}
			args, kwargs, err := payload(eb.Args, eb.Kwargs)
			if err != nil {
				return []string{at(b.DefRange) + ": " + err.Error()}, nil
			}
			realm.publish(nil, b.Labels[0], args, kwargs, wamp.PublishOptions{})
		case "expect_event":
			var eb eventBlock
			if ds := gohcl.DecodeBody(b.Body, nil, &eb); ds.HasErrors() {
				return nil, ds
			}
			if f := realm.expectEvent(b.Labels[0], &eb, b.DefRange); f != "" {
				fails = append(fails, f)
			}
		}
	}
	return fails, nil
}

// value evaluates an optional attribute to plain WAMP values: whole
// numbers that fit become int64 (or uint64), others float64, as a
// MessagePack or CBOR peer would send them.
func value(expr hcl.Expression) (any, bool, error) {
	if expr == nil {
		return nil, false, nil
	}
	v, ds := expr.Value(nil)
	if ds.HasErrors() {
		return nil, false, ds
	}
	if v.IsNull() {
		return nil, false, nil
	}
	js, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return nil, false, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, false, err
	}
	return numbers(out), true, nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = numbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = numbers(x[k])
		}
	}
	return v
}

func payload(a, k hcl.Expression) ([]any, map[string]any, error) {
	args, _, err := value(a)
	if err != nil {
		return nil, nil, err
	}
	kwargs, _, err := value(k)
	if err != nil {
		return nil, nil, err
	}
	l, _ := args.([]any)
	m, _ := kwargs.(map[string]any)
	if args != nil && l == nil {
		return nil, nil, fmt.Errorf("args must be a list")
	}
	if kwargs != nil && m == nil {
		return nil, nil, fmt.Errorf("kwargs must be an object")
	}
	return l, m, nil
}

// plain turns script-made values into plain WAMP values, as the router
// would carry them between sessions.
func plain(v any) (any, error) {
	return interp.ToWAMP(reflect.ValueOf(v))
}

// wants is an expectation evaluated: each attribute's value, or unset.
type wants struct {
	names [4]string
	exprs [4]hcl.Expression
	vals  [4]any
	set   [4]bool
}

// eval evaluates an expectation and checks that it makes sense.
func (e expectation) eval() (*wants, string, hcl.Range) {
	w := &wants{names: [4]string{"args", "kwargs", "args_contain", "kwargs_contain"},
		exprs: [4]hcl.Expression{e.args, e.kwargs, e.argsContain, e.kwargsContain}}
	for i, expr := range w.exprs {
		var err error
		if w.vals[i], w.set[i], err = value(expr); err != nil {
			return nil, w.names[i] + ": " + err.Error(), expr.Range()
		}
		if !w.set[i] {
			continue
		}
		if _, ok := w.vals[i].([]any); i%2 == 0 && !ok {
			return nil, w.names[i] + " must be a list", expr.Range()
		}
		if _, ok := w.vals[i].(map[string]any); i%2 == 1 && !ok {
			return nil, w.names[i] + " must be an object", expr.Range()
		}
	}
	for i := range 2 {
		if w.set[i] && w.set[i+2] {
			return nil, fmt.Sprintf("%s and %s cannot both be set", w.names[i], w.names[i+2]), w.exprs[i+2].Range()
		}
	}
	return w, "", hcl.Range{}
}

// check compares an expectation with what arrived and says where the first
// difference is ("" when it matches), and at which attribute.
func (e expectation) check(gotArgs []any, gotKwargs map[string]any) (string, hcl.Range) {
	w, d, rng := e.eval()
	if w == nil {
		return d, rng
	}
	return w.match(gotArgs, gotKwargs)
}

// match: an omitted attribute matches anything; an expected empty list or
// object matches none.
func (w *wants) match(gotArgs []any, gotKwargs map[string]any) (string, hcl.Range) {
	for i, name := range w.names {
		if !w.set[i] {
			continue
		}
		var got any = gotKwargs
		if i%2 == 0 {
			got = gotArgs
		}
		g, err := plain(got)
		if err != nil {
			return name + ": " + err.Error(), w.exprs[i].Range()
		}
		var d string
		switch i {
		case 0, 1:
			d = diff(name, g, w.vals[i])
		case 2:
			d = containsAll(g, w.vals[i])
		case 3:
			d = hasKeys(g, w.vals[i])
		}
		if d != "" {
			if i >= 2 {
				d = name + ": " + d
			}
			return d, w.exprs[i].Range()
		}
	}
	return "", hcl.Range{}
}

// containsAll says which wanted value is not among got's.
func containsAll(got, want any) string {
	gl, _ := got.([]any)
	wl, _ := want.([]any)
	for _, w := range wl {
		found := false
		for _, g := range gl {
			if diff("", g, w) == "" {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("no value equals %s (got %s)", js(w), js(got))
		}
	}
	return ""
}

// hasKeys compares the wanted keys only.
func hasKeys(got, want any) string {
	gm, _ := got.(map[string]any)
	wm, _ := want.(map[string]any)
	for _, k := range sortedKeys(wm) {
		g, ok := gm[k]
		if !ok {
			return fmt.Sprintf("missing key %q (got %s)", k, js(got))
		}
		if d := diff(k, g, wm[k]); d != "" {
			return d
		}
	}
	return ""
}

// diff describes the first difference between got and want, by path:
// "kwargs.ops[1]: got "div", want "mul"". Numbers compare by value, so 5
// equals 5.0, but 2.5 does not equal 2; bytes compare as the base64 text
// a JSON peer would receive.
func diff(path string, got, want any) string {
	if b, ok := got.([]byte); ok {
		got = base64.StdEncoding.EncodeToString(b)
	}
	at := func(p string) string {
		if path == "" {
			return strings.TrimPrefix(p, ".")
		}
		return path + p
	}
	// Go's nil slices and maps arrive as null: an empty list or object
	// and null are the same expectation.
	if isEmpty(want) && isEmpty(got) {
		return ""
	}
	differ := fmt.Sprintf("%s: got %s, want %s", path, js(got), js(want))
	if path == "" {
		differ = fmt.Sprintf("got %s, want %s", js(got), js(want))
	}
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok {
			return differ
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: got %d values, want %d (got %s, want %s)", path, len(g), len(w), js(g), js(w))
		}
		for i := range w {
			if d := diff(at(fmt.Sprintf("[%d]", i)), g[i], w[i]); d != "" {
				return d
			}
		}
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return differ
		}
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: missing key %q (got %s)", path, k, js(g))
			}
			if d := diff(at("."+k), gv, w[k]); d != "" {
				return d
			}
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				return fmt.Sprintf("%s: unexpected key %q (got %s)", path, k, js(g))
			}
		}
		return ""
	}
	if wn, ok := number(want); ok {
		if gn, ok := number(got); ok && wn.Cmp(gn) == 0 {
			return ""
		}
		return differ
	}
	if !reflect.DeepEqual(got, want) {
		return differ
	}
	return ""
}

// number is a WAMP number as an exact rational, so that int64, uint64
// and float64 compare by value without rounding large integers.
func number(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(n), true
	case uint64:
		return new(big.Rat).SetUint64(n), true
	case float64:
		r, ok := new(big.Rat).SetString(strconv.FormatFloat(n, 'g', -1, 64))
		return r, ok
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// realm is the in-memory stand-in for a router: components' procedures
// and subscriptions by URI, and the publications made so far.
type realm struct {
	mu     sync.Mutex
	comps  []*component
	procs  []binding
	subs   []binding
	events []event
	// published is closed, and replaced, at each publication.
	published chan struct{}
	wg        sync.WaitGroup
	ctx       context.Context
	cancel    context.CancelFunc
}

type binding struct {
	uri, match string
	owner      *component
	proc       interp.Procedure
	handler    interp.EventHandler
}

type event struct {
	topic  string
	args   []any
	kwargs map[string]any
}

type component struct {
	r    *realm
	cfg  *loader.Component
	prog *interp.Program
	log  hclog.Logger
	id   uint64
}

func newRealm(cfg *loader.Config, log hclog.Logger, stdout io.Writer) (*realm, error) {
	r := &realm{published: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for i, cc := range cfg.Components {
		prog, ds := interp.Load(interp.Options{Source: cc.Source, AllowImports: cc.AllowImports, Stdout: stdout})
		if ds.HasErrors() {
			return nil, fmt.Errorf("component %s: %s", cc.Name, ds.Error())
		}
		c := &component{r: r, cfg: cc, prog: prog, log: log.Named(cc.Name), id: uint64(i + 1)}
		r.comps = append(r.comps, c)
		for _, b := range cc.Registers {
			p, err := prog.Procedure(b.Handler)
			if err != nil {
				return nil, fmt.Errorf("component %s: %s: %w", cc.Name, b.URI, err)
			}
			r.procs = append(r.procs, binding{uri: b.URI, match: b.Match, owner: c, proc: p})
		}
		for _, b := range cc.Subscribes {
			h, err := prog.EventHandler(b.Handler)
			if err != nil {
				return nil, fmt.Errorf("component %s: %s: %w", cc.Name, b.URI, err)
			}
			r.subs = append(r.subs, binding{uri: b.URI, match: b.Match, owner: c, handler: h})
		}
	}
	for _, c := range r.comps {
		onJoin, err := c.prog.OnJoin()
		if err != nil {
			return nil, err
		}
		if onJoin != nil {
			if err := onJoin(r.ctx, &session{c: c}); err != nil {
				return nil, fmt.Errorf("component %s: OnJoin: %w", c.cfg.Name, err)
			}
		}
	}
	return r, nil
}

func (r *realm) stop() {
	for _, c := range r.comps {
		if onLeave, _ := c.prog.OnLeave(); onLeave != nil {
			_ = onLeave(context.Background(), &session{c: c})
		}
	}
	r.cancel()
	r.wg.Wait()
	for _, c := range r.comps {
		c.prog.Stop()
	}
}

// matches applies WAMP's exact, prefix and wildcard rules.
func matches(pattern, match, uri string) bool {
	switch match {
	case "prefix":
		return strings.HasPrefix(uri, pattern)
	case "wildcard":
		ps, us := strings.Split(pattern, "."), strings.Split(uri, ".")
		if len(ps) != len(us) {
			return false
		}
		for i := range ps {
			if ps[i] != "" && ps[i] != us[i] {
				return false
			}
		}
		return true
	}
	return pattern == uri
}

func (r *realm) lookup(uri string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.procs {
		if b.match != "prefix" && b.match != "wildcard" && matches(b.uri, b.match, uri) {
			return b, true
		}
	}
	for _, b := range r.procs {
		if matches(b.uri, b.match, uri) {
			return b, true
		}
	}
	return binding{}, false
}

// call runs a procedure as the router would route it, with the caller's
// progress callback, and returns what the caller would receive.
func (r *realm) call(ctx context.Context, uri string, args []any, kwargs map[string]any, onProgress func(*wamp.Result)) (*wamp.Result, error) {
	b, ok := r.lookup(uri)
	if !ok {
		return nil, wamp.NewError(wamp.ErrNoSuchProcedure, "no callee registered procedure "+uri)
	}
	pa, err := plain(args)
	if err != nil {
		return nil, wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	pk, err := plain(kwargs)
	if err != nil {
		return nil, wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	l, _ := pa.([]any)
	m, _ := pk.(map[string]any)
	var send func([]any, map[string]any) error
	if onProgress != nil {
		send = func(a []any, k map[string]any) error {
			onProgress(&wamp.Result{Args: a, Kwargs: k})
			return nil
		}
	}
	inv := wamp.NewInvocation(uri, l, m, send)
	res, err := b.proc(ctx, inv)
	if err != nil {
		if _, ok := wamp.AsError(err); ok {
			return nil, err
		}
		if ctx.Err() != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return nil, wamp.NewError(wamp.ErrTimeout, err.Error())
			}
			return nil, wamp.NewError(wamp.ErrCanceled, err.Error())
		}
		return nil, wamp.NewError(wamp.ErrRuntimeError, err.Error())
	}
	return res, nil
}

func (r *realm) runCall(cb *callBlock, rng hcl.Range) string {
	args, kwargs, err := payload(cb.Args, cb.Kwargs)
	if err != nil {
		return at(rng) + ": " + err.Error()
	}
	timeout := 10 * time.Second
	if cb.Timeout != nil {
		if timeout, err = time.ParseDuration(*cb.Timeout); err != nil {
			return at(rng) + ": timeout: " + err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	res, err := r.call(ctx, cb.URI, args, kwargs, nil)
	what := "call " + cb.URI
	fail := func(rng hcl.Range, msg string) string { return at(rng) + ": " + what + ": " + msg }
	if cb.ExpectError != nil {
		wantURI, _, verr := value(cb.ExpectError.URI)
		uri, _ := wantURI.(string)
		if verr != nil || uri == "" {
			return fail(cb.ExpectError.URI.Range(), "expect_error: uri must be a URI")
		}
		if err == nil {
			return fail(cb.ExpectError.URI.Range(), fmt.Sprintf("succeeded with %s, want error %s", js(res.Args), uri))
		}
		we, _ := wamp.AsError(err)
		if we.URI != uri {
			return fail(cb.ExpectError.URI.Range(), fmt.Sprintf("error %s, want %s (%s)", we.URI, uri, err))
		}
		if d, rng := cb.ExpectError.expectation().check(we.Args, we.Kwargs); d != "" {
			return fail(rng, "error "+d)
		}
		return ""
	}
	if err != nil {
		return fail(rng, "unexpected error "+err.Error())
	}
	if cb.Expect != nil {
		if d, rng := cb.Expect.expectation().check(res.Args, res.Kwargs); d != "" {
			return fail(rng, d)
		}
	}
	return ""
}

// publish records the event and delivers it to matching subscriptions
// (not the publisher's own unless IncludeMe), one handler at a time.
func (r *realm) publish(from *component, topic string, args []any, kwargs map[string]any, opts wamp.PublishOptions) error {
	pa, err := plain(args)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	pk, err := plain(kwargs)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	l, _ := pa.([]any)
	m, _ := pk.(map[string]any)
	r.mu.Lock()
	r.events = append(r.events, event{topic: topic, args: l, kwargs: m})
	close(r.published)
	r.published = make(chan struct{})
	subs := append([]binding(nil), r.subs...)
	r.mu.Unlock()
	for _, b := range subs {
		if !matches(b.uri, b.match, topic) || (b.owner == from && !opts.IncludeMe) {
			continue
		}
		ev := &wamp.Event{Topic: topic, Args: l, Kwargs: m}
		if from != nil && opts.DiscloseMe {
			ev.Publisher = from.id
		}
		if err := b.handler(r.ctx, ev); err != nil {
			b.owner.log.Error("event handler failed", "topic", topic, "error", err)
		}
	}
	return nil
}

// eventWait is how long expect_event waits by default for a matching
// publication: handlers may publish after the step that caused it, from
// Session.Go or another handler.
const eventWait = time.Second

// expectEvent passes when some publication on topic, so far or within
// the block's timeout, matches.
func (r *realm) expectEvent(topic string, eb *eventBlock, rng hcl.Range) string {
	wait := eventWait
	if eb.Timeout != nil {
		var err error
		if wait, err = time.ParseDuration(*eb.Timeout); err != nil {
			return fmt.Sprintf("%s: expect_event %s: timeout: %s", at(rng), topic, err)
		}
	}
	exp, d, erng := eb.expectation().eval()
	if exp == nil {
		return fmt.Sprintf("%s: expect_event %s: %s", at(erng), topic, d)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for checked := 0; ; {
		r.mu.Lock()
		events := r.events[checked:len(r.events):len(r.events)]
		next := r.published
		r.mu.Unlock()
		checked += len(events)
		for _, e := range events {
			if e.topic != topic {
				continue
			}
			if d, _ := exp.match(e.args, e.kwargs); d == "" {
				return ""
			}
		}
		select {
		case <-next:
			continue
		case <-deadline.C:
		}
		break
	}
	r.mu.Lock()
	events := append([]event(nil), r.events...)
	r.mu.Unlock()
	var seen []string
	for _, e := range events {
		if e.topic == topic {
			seen = append(seen, js(e.args)+" "+js(e.kwargs))
		}
	}
	if len(seen) == 0 {
		return fmt.Sprintf("%s: expect_event %s: nothing was published there within %s", at(rng), topic, wait)
	}
	return fmt.Sprintf("%s: expect_event %s: no publication matched within %s; saw %s", at(rng), topic, wait, strings.Join(seen, "; "))
}

// session is the fake wamp.Session each component's scripts get.
type session struct{ c *component }

func (s *session) ID() uint64       { return s.c.id }
func (s *session) Realm() string    { return s.c.cfg.Realm }
func (s *session) Log() wamp.Logger { return s.c.log }

func (s *session) Call(ctx context.Context, procedure string, args ...any) (*wamp.Result, error) {
	return s.c.r.call(ctx, procedure, args, nil, nil)
}

func (s *session) CallWith(ctx context.Context, procedure string, args []any, kwargs map[string]any, opts wamp.CallOptions) (*wamp.Result, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	return s.c.r.call(ctx, procedure, args, kwargs, opts.OnProgress)
}

func (s *session) Publish(topic string, args ...any) error {
	return s.c.r.publish(s.c, topic, args, nil, wamp.PublishOptions{})
}

func (s *session) PublishWith(ctx context.Context, topic string, args []any, kwargs map[string]any, opts wamp.PublishOptions) error {
	return s.c.r.publish(s.c, topic, args, kwargs, opts)
}

func (s *session) Register(procedure string, handler any, opts wamp.RegisterOptions) error {
	p, err := s.c.prog.ProcedureOf(handler)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	s.c.r.mu.Lock()
	defer s.c.r.mu.Unlock()
	s.c.r.procs = append(s.c.r.procs, binding{uri: procedure, match: opts.Match, owner: s.c, proc: p})
	return nil
}

func (s *session) Unregister(procedure string) error {
	r := s.c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.procs {
		if b.owner == s.c && b.uri == procedure {
			r.procs = append(r.procs[:i], r.procs[i+1:]...)
			return nil
		}
	}
	return wamp.NewError("wamp.error.no_such_registration", procedure)
}

func (s *session) Subscribe(topic string, handler any, opts wamp.SubscribeOptions) error {
	h, err := s.c.prog.EventHandlerOf(handler)
	if err != nil {
		return wamp.NewError(wamp.ErrInvalidArgument, err.Error())
	}
	s.c.r.mu.Lock()
	defer s.c.r.mu.Unlock()
	s.c.r.subs = append(s.c.r.subs, binding{uri: topic, match: opts.Match, owner: s.c, handler: h})
	return nil
}

func (s *session) Unsubscribe(topic string) error {
	r := s.c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, b := range r.subs {
		if b.owner == s.c && b.uri == topic {
			r.subs = append(r.subs[:i], r.subs[i+1:]...)
			return nil
		}
	}
	return wamp.NewError("wamp.error.no_such_subscription", topic)
}

// Go runs fn until the test ends; a panic fails nothing but is logged.
func (s *session) Go(fn func(ctx context.Context)) {
	r := s.c.r
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				s.c.log.Error("background goroutine panicked", "panic", fmt.Sprint(p))
			}
		}()
		fn(r.ctx)
	}()
}

func (s *session) Config(v any) error {
	b, err := json.Marshal(s.c.cfg.Config)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
