package interp

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/wamp"
)

func TestLoadDirectory(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/load/ok"})
	wantFiles := []string{abs(t, "testdata/load/ok/a.go"), abs(t, "testdata/load/ok/b.go")}
	if !reflect.DeepEqual(p.Files, wantFiles) {
		t.Errorf("Files = %v, want %v (no _test.go, no .txt)", p.Files, wantFiles)
	}
	for _, name := range []string{"Add2", "Shout", "OnCounter"} {
		if !p.Has(name) {
			t.Errorf("Has(%s) = false", name)
		}
	}
	if p.Has("bang") || p.Has("Broken") {
		t.Error("unexported or _test.go functions must not be handlers")
	}
	if got, want := p.FuncPos("Shout"), (diag.Pos{File: wantFiles[0], Line: 10, Column: 6}); got != want {
		t.Errorf("FuncPos(Shout) = %v, want %v", got, want)
	}
	if got := p.FuncPos("Nope"); got != (diag.Pos{}) {
		t.Errorf("FuncPos(Nope) = %v, want zero", got)
	}
	res, err := callProc(t, p, "Add2", []any{2, 3}, nil)
	if err != nil || !reflect.DeepEqual(res.Args, []any{int64(5)}) {
		t.Fatalf("Add2(2, 3) = %v, %v", res, err)
	}
	res, err = callProc(t, p, "Shout", []any{"hi"}, nil)
	if err != nil || !reflect.DeepEqual(res.Args, []any{"HI!"}) {
		t.Fatalf("Shout(hi) = %v, %v", res, err)
	}
	if _, err := p.EventHandler("OnCounter"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadAbsoluteDirectory(t *testing.T) {
	p := mustLoad(t, Options{Source: abs(t, "testdata/load/ok")})
	if res, err := callProc(t, p, "Add2", []any{1, 1}, nil); err != nil || res.Args[0] != int64(2) {
		t.Fatalf("Add2(1, 1) = %v, %v", res, err)
	}
}

func TestLoadSingleFile(t *testing.T) {
	// other.go in the same directory does not compile: a single-file source
	// must not read it.
	p := mustLoad(t, Options{Source: "testdata/load/single/one.go"})
	if want := []string{abs(t, "testdata/load/single/one.go")}; !reflect.DeepEqual(p.Files, want) {
		t.Errorf("Files = %v, want %v", p.Files, want)
	}
	res, err := callProc(t, p, "Hello", []any{"bob"}, nil)
	if err != nil || res.Args[0] != "hello bob" {
		t.Fatalf("Hello(bob) = %v, %v", res, err)
	}
	if p.Has("Other") {
		t.Error("Other comes from a file that was not loaded")
	}
}

func TestLoadSyntaxError(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"good.go": "package x\n\nfunc F() int { return 1 }\n",
		"bad.go":  "package x\n\nfunc G() int {\n\treturn 1 +\n}\n",
	})
	p, ds := Load(Options{Source: dir})
	if p != nil {
		t.Fatal("Program returned despite a syntax error")
	}
	d := findDiag(t, ds, "syntax error")
	wantAt(t, d, diag.Error, filepath.Join(dir, "bad.go"), 5, 1)
}

func TestLoadCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		dir, file, detail string
		line, col         int
	}{
		{"undefined", "u.go", "undefined: notDeclared", 8, 9},
		{"mismatch", "m.go", "cannot use type int as type string", 5, 17},
		{"retmismatch", "r.go", "cannot use f (type float64) as type int in return argument", 5, 9},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			p, ds := Load(Options{Source: "testdata/load/" + tc.dir})
			if p != nil || !ds.HasErrors() {
				t.Fatalf("want an error, got %v", ds)
			}
			if len(ds) != 1 {
				t.Errorf("want one diagnostic, got %v", ds)
			}
			d := ds[0]
			wantAt(t, d, diag.Error, abs(t, "testdata/load/"+tc.dir+"/"+tc.file), tc.line, tc.col)
			if !filepath.IsAbs(d.Pos.File) {
				t.Errorf("position %s is not absolute", d.Pos)
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", d.Detail, tc.detail)
			}
		})
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		source, summary, detail string
		pos                     diag.Pos
	}{
		{"testdata/load/main", "package main", "name it after the component", diag.Pos{File: "testdata/load/main/main.go", Line: 1, Column: 9}},
		{"testdata/load/mixed", "mixed packages", "package two, but other files here are package one", diag.Pos{File: "testdata/load/mixed/b.go", Line: 1, Column: 9}},
		{"testdata/load/empty", "cannot read scripts", "no .go files", diag.Pos{File: "testdata/load/empty"}},
		{"testdata/load/nonexistent", "cannot read scripts", "no such file", diag.Pos{File: "testdata/load/nonexistent"}},
	} {
		t.Run(filepath.Base(tc.source), func(t *testing.T) {
			p, ds := Load(Options{Source: tc.source})
			if p != nil {
				t.Fatal("Program returned")
			}
			d := findDiag(t, ds, tc.summary)
			tc.pos.File = abs(t, tc.pos.File)
			wantAt(t, d, diag.Error, tc.pos.File, tc.pos.Line, tc.pos.Column)
			if !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q does not mention %q", d.Detail, tc.detail)
			}
		})
	}
}

func TestLoadInitPanic(t *testing.T) {
	p, ds := Load(Options{Source: "testdata/load/initpanic"})
	if p != nil {
		t.Fatal("Program returned despite a panic at init")
	}
	d := findDiag(t, ds, "panic while loading")
	if !strings.Contains(d.Detail, "config missing") {
		t.Errorf("detail %q does not carry the panic value", d.Detail)
	}
	wantAt(t, d, diag.Error, abs(t, "testdata/load/initpanic/p.go"), 4, 2)
}

// TestLoadInterpreterPanic: code the interpreter itself fails on (here
// an invalid recursive type, which Go rejects and yaegi v0.16.1 panics on)
// is an error at the component's source that says where to look, not a
// crash and not an error without a place.
func TestLoadInterpreterPanic(t *testing.T) {
	dir := writeScripts(t, map[string]string{"s.go": "package s\n\ntype A B\ntype B A\n\nfunc F() int { return 1 }\n"})
	p, ds := Load(Options{Source: dir})
	if p != nil || !ds.HasErrors() {
		t.Fatalf("loaded: %v", ds)
	}
	if ds[0].Pos.File == "" {
		t.Fatalf("diagnostic without a file: %v", ds[0])
	}
	if d := ds[0]; d.Summary == "panic while loading" && (d.Pos.File != dir || !strings.Contains(d.Detail, "go vet")) {
		t.Errorf("got %v at %q; want the source directory and the go vet hint", d.Detail, d.Pos.File)
	}
}

func TestMissingHandler(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/load/ok"})
	_, err := p.Procedure("add2")
	if err == nil || !strings.Contains(err.Error(), "did you mean Add2?") || !strings.Contains(err.Error(), "a.go, b.go") {
		t.Errorf("Procedure(add2) error = %v, want a did-you-mean for Add2 naming the files", err)
	}
	_, err = p.EventHandler("Counter")
	if err == nil || !strings.Contains(err.Error(), "did you mean OnCounter?") || !strings.Contains(err.Error(), "exported functions: Add2, OnCounter, Shout") {
		t.Errorf("EventHandler(Counter) error = %v, want the near miss and the list of exported functions", err)
	}
	_, err = p.EventHandler("Xyzzy")
	if err == nil || strings.Contains(err.Error(), "did you mean") || !strings.Contains(err.Error(), "exported functions: Add2, OnCounter, Shout") {
		t.Errorf("EventHandler(Xyzzy) error = %v, want no guess, only the list", err)
	}
	_, err = p.Procedure("bang")
	if err == nil || !strings.Contains(err.Error(), "no exported function bang") {
		t.Errorf("Procedure(bang) error = %v: unexported functions are not handlers", err)
	}
}

func TestBadSignatures(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/load/signatures"})
	for _, tc := range []struct {
		name, event bool
		fn          string
		want        string
	}{
		{fn: "ChanParam", want: "ChanParam: parameter 1 is a chan, which no WAMP argument can fill"},
		{fn: "FuncParam", want: "parameter 1 is a func"},
		{fn: "ErrorFirst", want: "error must be the last result"},
		{fn: "FuncResult", want: "result 1 is a func, which cannot be sent over WAMP"},
		{fn: "TwoResults", want: "a wamp.Result must be the only value result"},
		{fn: "CtxLater", want: "context.Context may only come first"},
		{fn: "InvAndArg", want: "*wamp.Invocation may only come first"},
		{fn: "EventReturns", event: true, want: "an event handler returns nothing or an error"},
		{fn: "NotAFunc", want: "no exported function NotAFunc"},
	} {
		var err error
		if tc.event {
			_, err = p.EventHandler(tc.fn)
		} else {
			_, err = p.Procedure(tc.fn)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.fn, err, tc.want)
		}
	}
	if _, err := p.Procedure("Good"); err != nil {
		t.Errorf("Good: %v", err)
	}
	// A procedure in full form is not an event handler and vice versa.
	dir := writeScripts(t, map[string]string{"f.go": `package f

import "github.com/wamphost/wamphost/wamp"

func Proc(inv *wamp.Invocation) {}
`})
	q := mustLoad(t, Options{Source: dir})
	if _, err := q.EventHandler("Proc"); err == nil || !strings.Contains(err.Error(), "*wamp.Invocation may only come first") {
		t.Errorf("EventHandler(Proc) = %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/load/lifecycle"})
	join, err := p.OnJoin()
	if err != nil || join == nil {
		t.Fatalf("OnJoin() = nil? %t, %v", join == nil, err)
	}
	if err := join(t.Context(), nil); err == nil || err.Error() != "no session" {
		t.Errorf("OnJoin(nil session) = %v, want the script's error", err)
	}
	if err := join(t.Context(), fakeSession{}); err != nil {
		t.Errorf("OnJoin = %v", err)
	}
	if res, err := callProc(t, p, "Joined", nil, nil); err != nil || res.Args[0] != "yes" {
		t.Errorf("Joined() = %v, %v", res, err)
	}
	leave, err := p.OnLeave()
	if err != nil || leave == nil {
		t.Fatalf("OnLeave() = nil? %t, %v", leave == nil, err)
	}
	err = leave(t.Context(), fakeSession{})
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "leaving" || pe.Pos.Line != 21 {
		t.Errorf("OnLeave panic = %#v, want a PanicError at line 21", err)
	}

	none := mustLoad(t, Options{Source: "testdata/load/ok"})
	if f, err := none.OnJoin(); f != nil || err != nil {
		t.Errorf("OnJoin without one = nil? %t, %v; want nil, nil", f == nil, err)
	}
	if f, err := none.OnLeave(); f != nil || err != nil {
		t.Errorf("OnLeave without one = nil? %t, %v; want nil, nil", f == nil, err)
	}

	for _, tc := range []struct{ dir, want string }{
		{"badjoin", "OnJoin must be func OnJoin(ctx context.Context, s wamp.Session) error, not func(wamp.Session) error"},
		{"badleave", "OnLeave must be func OnLeave(ctx context.Context, s wamp.Session) error, not func(context.Context, wamp.Session) int"},
	} {
		q := mustLoad(t, Options{Source: "testdata/load/" + tc.dir})
		var err error
		if tc.dir == "badjoin" {
			_, err = q.OnJoin()
		} else {
			_, err = q.OnLeave()
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error = %v, want %q", tc.dir, err, tc.want)
		}
	}
}

// fakeSession stands in for the host's session: OnJoin here only checks
// that it got one.
type fakeSession struct{ wamp.Session }

// A directory whose name ends in .go is still a directory.
func TestLoadDirectoryNamedLikeAFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "handlers.go")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "h.go"), []byte("package handlers\n\nfunc F() int { return 4 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, Options{Source: dir})
	if res, err := callProc(t, p, "F", nil, nil); err != nil || res.Args[0] != int64(4) {
		t.Fatalf("F() = %v, %v", res, err)
	}
}
