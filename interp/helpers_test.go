package interp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/wamp"
)

// writeScripts lays files out in a fresh directory and returns it.
func writeScripts(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mustLoad loads source and fails the test on any error diagnostic.
func mustLoad(t testing.TB, opts Options) *Program {
	t.Helper()
	p, ds := Load(opts)
	if ds.HasErrors() || p == nil {
		t.Fatalf("Load(%s): %v", opts.Source, ds)
	}
	return p
}

// loadSrc loads one script file with the given source.
func loadSrc(t testing.TB, src string, allow ...string) *Program {
	t.Helper()
	return mustLoad(t, Options{Source: writeScripts(t, map[string]string{"s.go": src}), AllowImports: allow})
}

func abs(t testing.TB, path string) string {
	t.Helper()
	a, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// findDiag returns the one diagnostic whose summary or detail contains
// substr, failing unless exactly one does.
func findDiag(t testing.TB, ds diag.Diagnostics, substr string) diag.Diagnostic {
	t.Helper()
	var found []diag.Diagnostic
	for _, d := range ds {
		if strings.Contains(d.Summary+": "+d.Detail, substr) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one diagnostic containing %q, got %d in:\n%v", substr, len(found), ds)
	}
	return found[0]
}

// wantAt asserts a diagnostic's severity and position.
func wantAt(t testing.TB, d diag.Diagnostic, sev diag.Severity, file string, line, col int) {
	t.Helper()
	if d.Severity != sev || d.Pos.File != file || d.Pos.Line != line || d.Pos.Column != col {
		t.Errorf("diagnostic %q: got %s at %s, want %s at %s:%d:%d", d.Summary, d.Severity, d.Pos, sev, file, line, col)
	}
}

// callProc binds name as a procedure and calls it.
func callProc(t testing.TB, p *Program, name string, args []any, kwargs map[string]any) (*wamp.Result, error) {
	t.Helper()
	h, err := p.Procedure(name)
	if err != nil {
		t.Fatalf("Procedure(%s): %v", name, err)
	}
	return h(t.Context(), &wamp.Invocation{Procedure: "test." + name, Args: args, Kwargs: kwargs})
}

// wantWAMPError asserts that err is a *wamp.Error with uri whose text
// contains every one of substrs.
func wantWAMPError(t testing.TB, err error, uri string, substrs ...string) {
	t.Helper()
	we, ok := err.(*wamp.Error)
	if !ok {
		t.Fatalf("want *wamp.Error %s, got %T %v", uri, err, err)
	}
	if we.URI != uri {
		t.Errorf("URI = %s, want %s (%v)", we.URI, uri, we)
	}
	for _, s := range substrs {
		if !strings.Contains(we.Error(), s) {
			t.Errorf("error %q does not mention %q", we.Error(), s)
		}
	}
}
