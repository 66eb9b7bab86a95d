// Package interp turns a component's Go source into callable handlers. It
// runs the source through load-time checks, builds one fresh yaegi
// interpreter per load with a copied import allow-list, and wraps each
// exported function so that the host can call it with WAMP arguments and get
// WAMP results back. It knows nothing of HCL or of WAMP sessions.
package interp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/agext/levenshtein"
	yaegi "github.com/traefik/yaegi/interp"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/wamp"
)

// Options say what to load.
type Options struct {
	// Source is a directory of .go files (one package, _test.go files
	// skipped) or a single .go file.
	Source string
	// AllowImports widens DefaultImports by package path.
	AllowImports []string
	// Stdout receives what scripts print with fmt.Print and friends.
	Stdout io.Writer
}

// Program is one load of a component's source: one interpreter and the
// exported functions found in it. Programs are never reloaded in place; a
// reload builds a new Program (DESIGN.md decision 2).
type Program struct {
	in     *yaegi.Interpreter
	funcs  map[string]*function
	panics *panicLog
	// stopOnce guards Stop: yaegi's stop may run only once per Eval.
	stopOnce sync.Once
	// Files are the source files loaded, in order.
	Files []string
	// ignored are the .go files beside them that go build would leave out.
	ignored []string
	// Warnings are diagnostics that did not stop the load.
	Warnings diag.Diagnostics
}

type function struct {
	name   string
	pos    diag.Pos
	params []string
	value  reflect.Value
	// direct is the function's body, called without reflect.Value.Call
	// (yaegi's FuncImpl, a wamphost patch); nil when yaegi has none.
	direct func([]reflect.Value) []reflect.Value
}

// Load reads, checks and interprets the source. Diagnostics carry the
// script's file:line:col; the Program is nil when they hold an error.
func Load(opts Options) (*Program, diag.Diagnostics) {
	// Absolute paths in every diagnostic, whatever the working directory:
	// yaegi reports its own errors that way, and editors jump to them.
	if a, err := filepath.Abs(opts.Source); err == nil {
		opts.Source = a
	}
	scripts, ignored, err := readScripts(opts.Source)
	if err != nil {
		return nil, diag.Diagnostics{{Severity: diag.Error, Pos: diag.Pos{File: opts.Source}, Summary: "cannot read scripts", Detail: err.Error()}}
	}
	fset := token.NewFileSet()
	var files []string
	var parsed []*ast.File
	var ds diag.Diagnostics
	snapshot := newSourceSnapshot()
	for _, sc := range scripts {
		f := sc.path
		files = append(files, f)
		snapshot.add(f, sc.src)
		af, err := parser.ParseFile(fset, f, sc.src, 0)
		if err != nil {
			ds = append(ds, syntaxDiagnostics(err, f)...)
			continue
		}
		parsed = append(parsed, af)
	}
	if ds.HasErrors() {
		return nil, ds
	}
	pkgName := ""
	var mainAt *ast.Ident
	funcs := map[string]*function{}
	pkgNames := map[string]bool{}
	for _, af := range parsed {
		if af.Name.Name == "main" && mainAt == nil {
			mainAt = af.Name
		}
		if pkgName == "" {
			pkgName = af.Name.Name
		} else if af.Name.Name != pkgName {
			p := fset.Position(af.Name.Pos())
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: p.Filename, Line: p.Line, Column: p.Column},
				Summary: "mixed packages", Detail: fmt.Sprintf("package %s, but other files here are package %s", af.Name.Name, pkgName)})
		}
		for _, decl := range af.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil {
					continue
				}
				pkgNames[d.Name.Name] = true
				if d.Name.IsExported() {
					p := fset.Position(d.Name.Pos())
					funcs[d.Name.Name] = &function{name: d.Name.Name, pos: diag.Pos{File: p.Filename, Line: p.Line, Column: p.Column}, params: paramNames(d.Type)}
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							pkgNames[n.Name] = true
						}
					case *ast.TypeSpec:
						pkgNames[s.Name.Name] = true
					}
				}
			}
		}
	}
	if mainAt != nil {
		p := fset.Position(mainAt.Pos())
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: p.Filename, Line: p.Line, Column: p.Column},
			Summary: "package main", Detail: "a component is a library package: name it after the component (package add2), not main"})
	}
	allowed := allowedSet(opts.AllowImports)
	for _, af := range parsed {
		ds = append(ds, checkFile(fset, af, allowed, pkgNames)...)
	}
	if ds.HasErrors() {
		return nil, ds
	}

	registerStructs(parsed)
	p := &Program{funcs: funcs, panics: &panicLog{}, Files: files, ignored: ignored, Warnings: ds}
	stdout := opts.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	p.in = yaegi.New(yaegi.Options{Stdout: stdout, Stderr: p.panics, Env: []string{}, SourcecodeFilesystem: snapshot})
	if err := p.in.Use(exportsFor(importedBy(parsed))); err != nil {
		return nil, diag.Diagnostics{{Severity: diag.Error, Summary: "cannot prepare interpreter", Detail: err.Error()}}
	}
	if evalDs := p.eval(opts.Source, pkgName); evalDs.HasErrors() {
		return nil, append(ds, evalDs...)
	}
	return p, ds
}

// eval interprets the source and looks up every exported function.
func (p *Program) eval(source, pkgName string) (ds diag.Diagnostics) {
	defer func() {
		if r := recover(); r != nil {
			pos, detail := p.panics.firstSince(0), fmt.Sprint(r)
			if pos.File == "" {
				// Not the script's own panic (that one has its position):
				// the interpreter failed on the code. Go's compiler says
				// what is wrong with it, if anything is.
				pos.File = source
				detail += " (the interpreter could not load this package; `go vet` in its directory reports what Go finds wrong with it, and code that builds with Go but not here is a yaegi limitation: docs/scripting.md)"
			}
			ds = diag.Diagnostics{{Severity: diag.Error, Pos: pos, Summary: "panic while loading", Detail: detail}}
		}
	}()
	// yaegi resolves a directory as a relative import only, so name it
	// relative to the working directory.
	rel := source
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, source); err == nil {
			rel = r
		}
	}
	if !strings.HasPrefix(rel, ".") && !filepath.IsAbs(rel) {
		rel = "./" + rel
	}
	st, err := os.Stat(source)
	isDir := err == nil && st.IsDir()
	if _, err := p.in.EvalPath(rel); err != nil {
		return yaegiDiagnostics(err)
	}
	var syms map[string]reflect.Value
	if isDir {
		syms = p.in.Symbols(rel)[rel]
	}
	for name, f := range p.funcs {
		if isDir {
			f.value = syms[name]
			f.direct, _ = p.in.FuncImpl(rel, name)
			continue
		}
		v, err := p.in.Eval(pkgName + "." + name)
		if err != nil {
			return yaegiDiagnostics(err)
		}
		f.value = v
		f.direct, _ = p.in.FuncImpl(pkgName, name)
	}
	return nil
}

// importedBy is the set of packages the files import (all allowed, once
// checked). An interpreter gets only those: copying every allowed package's
// symbols cost each component time and memory for packages it never uses.
// fmt is always in: its presence is what makes yaegi give the interpreter
// its own stdout and environment (os.Getenv reads Options.Env, not the
// daemon's).
func importedBy(files []*ast.File) map[string]bool {
	set := map[string]bool{"fmt": true}
	for _, f := range files {
		for _, imp := range f.Imports {
			if path, err := strconv.Unquote(imp.Path.Value); err == nil {
				set[path] = true
			}
		}
	}
	return set
}

// script is one source file, as read once for checking and running.
type script struct {
	path string
	src  []byte
}

// readScripts reads the scripts of source (a directory or one file), and
// names the .go files in the directory that go build would leave out (a
// _name, another GOOS, a //go:build line that does not hold): yaegi
// leaves them out too, so checking them would report functions the
// interpreter never defines.
func readScripts(source string) (scripts []script, ignored []string, err error) {
	paths, isDir, err := sourceFiles(source)
	if err != nil {
		return nil, nil, err
	}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		if isDir && !builds(path, src) {
			ignored = append(ignored, filepath.Base(path))
			continue
		}
		scripts = append(scripts, script{path, src})
	}
	if len(scripts) == 0 {
		return nil, ignored, fmt.Errorf("no .go files in %s%s", source, notBuilt(ignored))
	}
	return scripts, ignored, nil
}

// builds reports whether go build would build the file at path, whose
// content is src.
func builds(path string, src []byte) bool {
	ctxt := build.Default
	ctxt.OpenFile = func(string) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(src)), nil }
	ok, err := ctxt.MatchFile(filepath.Dir(path), filepath.Base(path))
	return err != nil || ok
}

// sourceFiles lists the .go files of source (a directory, in name order,
// or one file), links to files included.
func sourceFiles(source string) (files []string, isDir bool, err error) {
	st, err := os.Stat(source)
	if err != nil {
		return nil, false, err
	}
	if !st.IsDir() {
		return []string{source}, false, nil
	}
	entries, err := os.ReadDir(source)
	if err != nil {
		return nil, true, err
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || strings.HasPrefix(n, ".") {
			continue
		}
		path := filepath.Join(source, n)
		if e.Type()&fs.ModeSymlink != 0 {
			// A link to a script is a script (checked like the rest).
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		files = append(files, path)
	}
	sort.Strings(files)
	return files, true, nil
}

func paramNames(ft *ast.FuncType) []string {
	var names []string
	for i, f := range ft.Params.List {
		if len(f.Names) == 0 {
			names = append(names, "argument "+strconv.Itoa(i+1))
		}
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
	}
	return names
}

func syntaxDiagnostics(err error, file string) diag.Diagnostics {
	var ds diag.Diagnostics
	if list, ok := err.(scanner.ErrorList); ok {
		for _, e := range list {
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: e.Pos.Filename, Line: e.Pos.Line, Column: e.Pos.Column}, Summary: "syntax error", Detail: e.Msg})
		}
		return ds
	}
	return diag.Diagnostics{{Severity: diag.Error, Pos: diag.Pos{File: file}, Summary: "syntax error", Detail: err.Error()}}
}

var positioned = regexp.MustCompile(`^(.+?\.go):(\d+):(\d+): (.*)$`)

// yaegiDiagnostics turns yaegi's "path:line:col: message" errors (one or
// several lines) into diagnostics with absolute paths.
func yaegiDiagnostics(err error) diag.Diagnostics {
	var ds diag.Diagnostics
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		m := positioned.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			ds = append(ds, diag.Diagnostic{Severity: diag.Error, Summary: "script error", Detail: line})
			continue
		}
		ln, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		file, _ := filepath.Abs(m[1])
		ds = append(ds, diag.Diagnostic{Severity: diag.Error, Pos: diag.Pos{File: file, Line: ln, Column: col}, Summary: "script error", Detail: goWords(m[4])})
	}
	return ds
}

// yaegiKind matches yaegi's names for kinds of type in its messages
// (stringT, sliceT), and an operand it has no name for.
var (
	yaegiKind      = regexp.MustCompile(`\b(nil|array|bool|chan|complex64|complex128|error|float32|float64|func|interface|int|int8|int16|int32|int64|map|ptr|slice|string|struct|uint|uint8|uint16|uint32|uint64|uintptr)T\b`)
	unnamedOperand = strings.NewReplacer("cannot use  (", "cannot use value (")
)

// goWords says yaegi's type kinds the way Go does ("type stringT" becomes
// "type string", "sliceT" "slice", "ptrT" "pointer").
func goWords(msg string) string {
	msg = yaegiKind.ReplaceAllStringFunc(msg, func(k string) string {
		if k == "ptrT" {
			return "pointer"
		}
		return strings.TrimSuffix(k, "T")
	})
	return unnamedOperand.Replace(msg)
}

// Has reports whether the scripts define an exported function name.
func (p *Program) Has(name string) bool { _, ok := p.funcs[name]; return ok }

// FuncPos is where an exported function is declared.
func (p *Program) FuncPos(name string) diag.Pos {
	if f, ok := p.funcs[name]; ok {
		return f.pos
	}
	return diag.Pos{}
}

// Procedure is a bound procedure handler. Its error is a *wamp.Error for
// application errors and bad arguments, a *PanicError for a recovered panic,
// and any other error otherwise.
type Procedure func(ctx context.Context, inv *wamp.Invocation) (*wamp.Result, error)

// EventHandler is a bound event handler.
type EventHandler func(ctx context.Context, ev *wamp.Event) error

// Procedure binds the exported function name as a procedure handler.
func (p *Program) Procedure(name string) (Procedure, error) {
	f, err := p.lookup(name)
	if err != nil {
		return nil, err
	}
	return p.procedureOf(f.name, f.value, f.direct, f.params)
}

// EventHandler binds the exported function name as an event handler.
func (p *Program) EventHandler(name string) (EventHandler, error) {
	f, err := p.lookup(name)
	if err != nil {
		return nil, err
	}
	return p.eventHandlerOf(f.name, f.value, f.direct, f.params)
}

// ProcedureOf binds a function value that a script handed to the host at
// run time (Session.Register).
func (p *Program) ProcedureOf(fn any) (Procedure, error) {
	return p.procedureOf("handler", reflect.ValueOf(fn), nil, nil)
}

// EventHandlerOf binds a function value handed over at run time.
func (p *Program) EventHandlerOf(fn any) (EventHandler, error) {
	return p.eventHandlerOf("handler", reflect.ValueOf(fn), nil, nil)
}

func (p *Program) lookup(name string) (*function, error) {
	f, ok := p.funcs[name]
	if !ok {
		return nil, fmt.Errorf("no exported function %s in %s%s%s", name, strings.Join(baseNames(p.Files), ", "), p.suggest(name), notBuilt(p.ignored))
	}
	if !f.value.IsValid() || f.value.Kind() != reflect.Func {
		return nil, fmt.Errorf("%s is not a function", name)
	}
	return f, nil
}

// notBuilt names the files left out, for an error that may be about them.
func notBuilt(ignored []string) string {
	if len(ignored) == 0 {
		return ""
	}
	return " (left out, as go build would: " + strings.Join(ignored, ", ") + ")"
}

func (p *Program) suggest(name string) string {
	var names []string
	best, bestDist := "", 3 // suggest only near misses: two edits at most
	for n := range p.funcs {
		if strings.EqualFold(n, name) {
			return " (did you mean " + n + "?)"
		}
		if d := levenshtein.Distance(strings.ToLower(n), strings.ToLower(name), nil); d < bestDist || d == bestDist && n < best {
			best, bestDist = n, d
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	list := "exported functions: " + strings.Join(names, ", ")
	if best != "" {
		return " (did you mean " + best + "? " + list + ")"
	}
	return " (" + list + ")"
}

func baseNames(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = filepath.Base(f)
	}
	return out
}

// OnJoin returns the scripts' OnJoin function, or nil if there is none.
func (p *Program) OnJoin() (func(context.Context, wamp.Session) error, error) {
	return p.lifecycle("OnJoin")
}

// OnLeave returns the scripts' OnLeave function, or nil if there is none.
func (p *Program) OnLeave() (func(context.Context, wamp.Session) error, error) {
	return p.lifecycle("OnLeave")
}

var sessionType = reflect.TypeOf((*wamp.Session)(nil)).Elem()

func (p *Program) lifecycle(name string) (func(context.Context, wamp.Session) error, error) {
	f, ok := p.funcs[name]
	if !ok {
		return nil, nil
	}
	t := f.value.Type()
	ok = t.NumIn() == 2 && t.In(0) == contextType && t.In(1) == sessionType &&
		(t.NumOut() == 0 || t.NumOut() == 1 && t.Out(0) == errorType)
	if !ok {
		return nil, fmt.Errorf("%s must be func %s(ctx context.Context, s wamp.Session) error, not %s", name, name, t)
	}
	return func(ctx context.Context, s wamp.Session) (err error) {
		defer p.recoverInto(&err, p.panics.mark())
		out := f.value.Call([]reflect.Value{reflect.ValueOf(&ctx).Elem(), reflect.ValueOf(&s).Elem()})
		if len(out) == 1 && !out[0].IsNil() {
			return out[0].Interface().(error)
		}
		return nil
	}, nil
}

// PanicError is a panic recovered from script code.
type PanicError struct {
	Value any
	// Pos is the innermost script position yaegi reported, if any.
	Pos diag.Pos
}

func (e *PanicError) Error() string {
	if e.Pos.File != "" {
		return fmt.Sprintf("panic at %s: %v", e.Pos, e.Value)
	}
	return fmt.Sprintf("panic: %v", e.Value)
}

func (p *Program) recoverInto(err *error, mark uint64) {
	r := recover()
	if r == nil {
		return
	}
	if rv, ok := r.(reflect.Value); ok && rv.IsValid() && rv.CanInterface() {
		r = rv.Interface()
	}
	*err = &PanicError{Value: r, Pos: p.panics.firstSince(mark)}
}

// panicLog receives yaegi's stderr, where it writes "file:line:col: panic"
// for every interpreted frame a panic unwinds, innermost first.
type panicLog struct {
	mu sync.Mutex
	// seq is read on every call (mark), so without the lock.
	seq     atomic.Uint64
	entries []panicEntry
}

type panicEntry struct {
	seq uint64
	pos diag.Pos
}

var panicLine = regexp.MustCompile(`^(.+?\.go):(\d+):(\d+): panic`)

func (l *panicLog) Write(b []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	l.mu.Lock()
	defer l.mu.Unlock()
	for sc.Scan() {
		m := panicLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ln, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		file, _ := filepath.Abs(m[1])
		l.entries = append(l.entries, panicEntry{seq: l.seq.Add(1), pos: diag.Pos{File: file, Line: ln, Column: col}})
		if len(l.entries) > 64 {
			l.entries = l.entries[len(l.entries)-64:]
		}
	}
	return len(b), nil
}

func (l *panicLog) mark() uint64 { return l.seq.Load() }

func (l *panicLog) firstSince(mark uint64) diag.Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.seq > mark {
			return e.pos
		}
	}
	return diag.Pos{}
}
