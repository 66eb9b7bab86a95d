package interp

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/internal/diag"
)

type wantDiagAt struct {
	sev       diag.Severity
	line, col int
	text      string
}

func TestChecks(t *testing.T) {
	const intHint = "write for i := 0; i < n; i++"
	for _, tc := range []struct {
		file string
		want []wantDiagAt
	}{
		{"gostmt.go", []wantDiagAt{{diag.Error, 5, 2, "go statement not allowed: start goroutines with s.Go("}}},
		{"rangeint.go", []wantDiagAt{
			{diag.Error, 4, 17, "range over an integer is not supported: the interpreter follows Go 1.21: " + intHint},
			{diag.Error, 7, 12, "range over an integer"},
		}},
		{"rangelen.go", []wantDiagAt{{diag.Error, 4, 17, "range over an integer"}}},
		{"rangevar.go", []wantDiagAt{
			{diag.Error, 5, 17, "range over an integer"},
			{diag.Error, 12, 17, "range over an integer"},
			{diag.Error, 20, 17, "range over an integer"},
		}},
		{"rangefunc.go", []wantDiagAt{
			{diag.Error, 12, 17, "range over a function is not supported"},
			{diag.Error, 19, 17, "range over a function is not supported"},
		}},
		{"builtins.go", []wantDiagAt{
			{diag.Error, 4, 8, "builtin min is not supported: the interpreter follows Go 1.21; compare with if, or declare func min in the script"},
			{diag.Error, 5, 8, "builtin max is not supported"},
			{diag.Error, 6, 2, "builtin clear is not supported: the interpreter follows Go 1.21; delete map keys in a loop"},
		}},
		{"closures.go", []wantDiagAt{
			{diag.Warning, 5, 41, "closure captures loop variable i: the interpreter keeps pre-Go-1.22 loop semantics: every iteration shares one i; copy it first (i := i)"},
			{diag.Warning, 8, 41, "closure captures loop variable v"},
		}},
		{"rangeok.go", nil},
		{"undefined_pkg.go", []wantDiagAt{{diag.Error, 3, 12, `undefined: context: no import or declaration named context; add import "context"`}}},
		{"afterfunc.go", []wantDiagAt{{diag.Error, 5, 12, "time.AfterFunc not allowed: it runs the function on a goroutine the host does not own"}}},
		{"ownmin.go", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			file := abs(t, "testdata/check/"+tc.file)
			p, ds := Load(Options{Source: file})
			if len(ds) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%v", len(ds), len(tc.want), ds)
			}
			for i, w := range tc.want {
				d := ds[i]
				wantAt(t, d, w.sev, file, w.line, w.col)
				if got := d.Summary + ": " + d.Detail; !strings.HasPrefix(got, w.text) {
					t.Errorf("diagnostic %d = %q, want it to start with %q", i, got, w.text)
				}
			}
			hasErr := hasError(tc.want)
			if hasErr != (p == nil) {
				t.Fatalf("Program nil = %t with errors = %t", p == nil, hasErr)
			}
			if p != nil && !reflect.DeepEqual(p.Warnings, ds) {
				t.Errorf("Warnings = %v, want %v", p.Warnings, ds)
			}
		})
	}
}

// The checks stay out of the way of code that runs fine.
func TestChecksAllowValidCode(t *testing.T) {
	p := mustLoad(t, Options{Source: "testdata/check/ownmin.go"})
	if res, err := callProc(t, p, "Own", []any{4, 2}, nil); err != nil || res.Args[0] != int64(2) {
		t.Errorf("Own(4, 2) = %v, %v", res, err)
	}
	p = mustLoad(t, Options{Source: "testdata/check/rangeok.go"})
	// 0+1 (indexes) + 1 (key "a") + the runes of "héllo" + 1 (channel).
	want := int64(0 + 1 + 1 + 'h' + 'é' + 'l' + 'l' + 'o' + 1)
	if res, err := callProc(t, p, "Fine", []any{[]any{7, 8}, map[string]any{"a": 1}}, nil); err != nil || res.Args[0] != want {
		t.Errorf("Fine = %v, %v; want %d", res, err, want)
	}
}

// A closure's warning depends on what it captures, not where it is.
func TestLoopCaptureWarningOnlyForLoopVariables(t *testing.T) {
	p := loadSrc(t, `package w

func F() (out []func() int) {
	total := 0
	for i := 0; i < 3; i++ {
		total += i
		out = append(out, func() int { return total })
	}
	return out
}
`)
	if len(p.Warnings) != 0 {
		t.Errorf("warnings for a variable declared outside the loop: %v", p.Warnings)
	}
}

func hasError(ws []wantDiagAt) bool {
	for _, w := range ws {
		if w.sev == diag.Error {
			return true
		}
	}
	return false
}

// TestUnusedLocalsRefused: a local variable nothing names again stops the
// load, as it stops go build (yaegi alone would run it); variables used
// anywhere, even only in a closure or a type switch clause, load.
func TestUnusedLocalsRefused(t *testing.T) {
	src := `package p

func F(v any, m map[string]int, xs []int) (r int) {
	switch x := v.(type) {
	case int:
		r = x
	}
	switch y := v.(type) {
	case int:
	}
	a := 1
	b := 2
	_ = b
	var c int
	for k, val := range m {
		_ = k
	}
	for i := range xs {
	}
	e, err := 1, error(nil)
	_ = e
	f := func() int { return a }
	return f()
}
`
	p, ds := Load(Options{Source: writeScripts(t, map[string]string{"p.go": src})})
	if p != nil {
		t.Fatal("a script with unused variables loaded")
	}
	var got []string
	for _, d := range ds {
		got = append(got, fmt.Sprintf("%s at %d:%d", d.Summary, d.Pos.Line, d.Pos.Column))
	}
	want := []string{
		"declared and not used: y at 8:9",
		"declared and not used: c at 14:6",
		"declared and not used: val at 15:9",
		"declared and not used: i at 18:6",
		"declared and not used: err at 20:5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same function with every variable used loads.
	fixed := strings.NewReplacer("case int:\n\t}\n\ta", "case int:\n\t\t_ = y\n\t}\n\ta", "var c int", "var c int\n\t_ = c", "_ = k", "_, _ = k, val", "for i := range xs {", "for i := range xs {\n\t\t_ = i", "_ = e", "_, _ = e, err").Replace(src)
	mustLoad(t, Options{Source: writeScripts(t, map[string]string{"p.go": fixed})})
}
