package interp

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/wamp"
)

// importScript is a script importing path and nothing else.
func importScript(path string) string {
	return fmt.Sprintf("package imp\n\nimport (\n\t\"strings\"\n\tx %q\n)\n\nvar _ = x.Nothing\n\nfunc F() string { return strings.ToUpper(\"a\") }\n", path)
}

// loadImport loads a script that imports path on line 5, column 2.
func loadImport(t *testing.T, path string, allow ...string) (*Program, diag.Diagnostics, string) {
	t.Helper()
	dir := writeScripts(t, map[string]string{"imp.go": importScript(path)})
	p, ds := Load(Options{Source: dir, AllowImports: allow})
	return p, ds, filepath.Join(dir, "imp.go")
}

func TestImportsRefusedByDefault(t *testing.T) {
	for _, path := range []string{"os", "net", "net/http", "os/signal", "reflect", "runtime", "runtime/debug", "log", "io/ioutil", "encoding/gob", "expvar"} {
		t.Run(path, func(t *testing.T) {
			p, ds, file := loadImport(t, path)
			if p != nil || len(ds) != 1 {
				t.Fatalf("want exactly one error, got %v", ds)
			}
			wantAt(t, ds[0], diag.Error, file, 5, 2)
			want := "import not allowed: package " + path + " is not in the script allow-list; add allow_imports = [\"" + path + "\"] to the component block to allow it"
			if got := ds[0].Summary + ": " + ds[0].Detail; got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestImportsNeverAllowed(t *testing.T) {
	for _, path := range []string{"unsafe", "syscall", "os/exec", "plugin", "github.com/traefik/yaegi/stdlib", "github.com/traefik/yaegi/interp", "github.com/traefik/yaegi"} {
		t.Run(path, func(t *testing.T) {
			p, ds, file := loadImport(t, path, path, "os")
			if p != nil || len(ds) != 1 {
				t.Fatalf("want exactly one error even when allowed, got %v", ds)
			}
			wantAt(t, ds[0], diag.Error, file, 5, 2)
			d := ds[0].Detail
			if strings.Contains(d, "allow_imports") || !(strings.Contains(d, "never available to scripts")) {
				t.Errorf("detail %q must say never, without an allow_imports hint", d)
			}
		})
	}
}

func TestImportsUnsupported(t *testing.T) {
	for path, hint := range map[string]string{
		"slices": "yaegi v0.16.1 cannot run it reliably (slices.Sort is undefined); use sort.Slice",
		"maps":   "yaegi v0.16.1 cannot run it reliably (maps.Clone fails)",
		"iter":   "yaegi v0.16.1 does not support range-over-func iterators",
	} {
		t.Run(path, func(t *testing.T) {
			p, ds, file := loadImport(t, path, path)
			if p != nil || len(ds) != 1 {
				t.Fatalf("want exactly one error, got %v", ds)
			}
			wantAt(t, ds[0], diag.Error, file, 5, 2)
			if !strings.Contains(ds[0].Detail, "package "+path+" is not available: "+hint) {
				t.Errorf("detail %q lacks the hint %q", ds[0].Detail, hint)
			}
		})
	}
}

func TestImportsThirdPartyRefused(t *testing.T) {
	for _, path := range []string{"github.com/pkg/errors", "golang.org/x/exp/slices", "github.com/wamphost/wamphost/host", "github.com/wamphost/wamphost/interp"} {
		p, ds, file := loadImport(t, path, path)
		if p != nil || len(ds) != 1 {
			t.Fatalf("%s: want exactly one error, got %v", path, ds)
		}
		wantAt(t, ds[0], diag.Error, file, 5, 2)
		if !strings.Contains(ds[0].Detail, "package "+path+" is not importable: scripts may import the standard library and "+APIPath+" only") {
			t.Errorf("%s: detail %q", path, ds[0].Detail)
		}
	}
}

func TestEveryDefaultImportLoads(t *testing.T) {
	var b strings.Builder
	b.WriteString("package all\n\nimport (\n")
	for _, path := range DefaultImports {
		fmt.Fprintf(&b, "\t_ %q\n", path)
	}
	b.WriteString("\n\t\"github.com/wamphost/wamphost/wamp\"\n)\n\nfunc F() string { return wamp.ErrInvalidArgument }\n")
	p := loadSrc(t, b.String())
	if res, err := callProc(t, p, "F", nil, nil); err != nil || res.Args[0] != wamp.ErrInvalidArgument {
		t.Fatalf("F() = %v, %v", res, err)
	}
}

func TestAllowImportsWidens(t *testing.T) {
	p := loadSrc(t, `package withos

import "os"

func Pid() int { return os.Getpid() }

func Env() string { return os.Getenv("WAMPHOST_INTERP_SECRET") }
`, "os")
	if res, err := callProc(t, p, "Pid", nil, nil); err != nil || res.Args[0] != int64(os.Getpid()) {
		t.Errorf("Pid() = %v, %v; want %d", res, err, os.Getpid())
	}
	// Even with os, a script sees a private, empty environment.
	t.Setenv("WAMPHOST_INTERP_SECRET", "hunter2")
	if res, err := callProc(t, p, "Env", nil, nil); err != nil || res.Args[0] != "" {
		t.Errorf("Env() = %v, %v; want the private empty environment", res, err)
	}
	// The widening is per load: the next program without it is refused.
	if _, ds, _ := loadImport(t, "os"); !ds.HasErrors() {
		t.Error("os allowed for one program leaked into the next")
	}
}

// TestVerifiedEscapesBlocked runs the escapes notes/yaegi.md verified against
// the default yaegi stdlib: each must fail to load with the default
// allow-list.
func TestVerifiedEscapesBlocked(t *testing.T) {
	for name, src := range map[string]string{
		"start /bin/sh": `package esc
import "os"
func F() { os.StartProcess("/bin/sh", []string{"sh", "-c", "true"}, &os.ProcAttr{}) }
`,
		"write a file": `package esc
import "os"
func F() { os.WriteFile("/tmp/wamphost-escape", []byte("x"), 0o644) }
`,
		"reflect on host memory": `package esc
import "reflect"
func F(v any) { reflect.ValueOf(v).Elem().Field(0).SetInt(1) }
`,
		"signal.Ignore": `package esc
import (
	"os/signal"
	"syscall"
)
func F() { signal.Ignore(syscall.SIGTERM) }
`,
		"rewrite stdlib.Symbols": `package esc
import (
	"reflect"
	"github.com/traefik/yaegi/stdlib"
)
func F() { stdlib.Symbols["strings/strings"]["ToUpper"] = reflect.ValueOf(func(s string) string { return "pwned" }) }
`,
		"exec": `package esc
import "os/exec"
func F() { exec.Command("/bin/sh").Run() }
`,
	} {
		t.Run(name, func(t *testing.T) {
			p, ds := Load(Options{Source: writeScripts(t, map[string]string{"esc.go": src})})
			if p != nil || !ds.HasErrors() {
				t.Fatalf("escape loaded: %v", ds)
			}
			for _, d := range ds {
				if d.Summary != "import not allowed" || d.Pos.Line < 2 {
					t.Errorf("unexpected diagnostic %v", d)
				}
			}
		})
	}
}

// TestIsolation proves that what one script does to the packages it
// imports is seen by nobody else: not the host, not the next interpreter.
func TestIsolation(t *testing.T) {
	const probe = `package probe

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/wamphost/wamphost/wamp"
)

func Upper() string { return strings.ToUpper("a") }
func EOF() string { return io.EOF.Error() }
func B64() string { return base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff}) }
func Local() string { return time.Local.String() }
func NoProgress() string { return wamp.ErrNoProgress.Error() }
func RandNil() bool { return rand.Reader == nil }
func Letter() bool { return unicode.Is(unicode.Latin, 'a') && unicode.Categories["L"] != nil }
`
	want := map[string]any{"Upper": "A", "EOF": "EOF", "B64": "+/8=", "Local": time.Local.String(), "NoProgress": wamp.ErrNoProgress.Error(), "RandNil": false, "Letter": true}
	check := func(t *testing.T, p *Program, who string) {
		t.Helper()
		for name, w := range want {
			res, err := callProc(t, p, name, nil, nil)
			if err != nil || res.Args[0] != w {
				t.Errorf("%s: %s() = %v, %v; want %v", who, name, res, err, w)
			}
		}
	}
	hostEOF, hostReader, hostLocal, hostNoProgress := io.EOF, rand.Reader, time.Local, wamp.ErrNoProgress
	hostStd, hostLatin := *base64.StdEncoding, *unicode.Latin
	before := loadSrc(t, probe)
	check(t, before, "before")

	attacker := loadSrc(t, `package attack

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/wamphost/wamphost/wamp"
)

func Attack() string {
	p := &io.EOF
	*p = errors.New("hijacked EOF")
	r := &rand.Reader
	*r = nil
	l := &time.Local
	*l = time.UTC
	*base64.StdEncoding = *base64.URLEncoding
	*unicode.Latin = unicode.RangeTable{}
	unicode.Categories["L"] = nil
	w := &wamp.ErrNoProgress
	*w = errors.New("hijacked")
	return io.EOF.Error() + "|" + base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff})
}

func ReplaceUpper() {
	strings.ToUpper = func(s string) string { return "hijacked" }
}
`)
	res, err := callProc(t, attacker, "Attack", nil, nil)
	if err != nil {
		t.Fatalf("Attack: %v", err)
	}
	// The attacker changes its own interpreter's copies...
	if res.Args[0] != "hijacked EOF|-_8=" {
		t.Errorf("Attack() = %v: the script should see its own changes", res.Args[0])
	}
	// (yaegi refuses to assign to a function at run time.)
	if _, err := callProc(t, attacker, "ReplaceUpper", nil, nil); err == nil {
		t.Error("ReplaceUpper succeeded")
	} else if pe, ok := err.(*PanicError); !ok || pe.Pos.Line != 31 {
		t.Errorf("ReplaceUpper error = %T %v, want *PanicError at line 31", err, err)
	}
	// ...and nothing else: the host,
	if io.EOF != hostEOF || rand.Reader != hostReader || time.Local != hostLocal || wamp.ErrNoProgress != hostNoProgress ||
		*base64.StdEncoding != hostStd || unicode.Latin.R16 == nil || len(unicode.Latin.R16) != len(hostLatin.R16) || unicode.Categories["L"] == nil {
		t.Fatal("a script changed the host's package variables")
	}
	if got := strings.ToUpper("a"); got != "A" {
		t.Fatalf("host strings.ToUpper = %q", got)
	}
	// an interpreter loaded before, and one loaded after.
	check(t, before, "loaded before the attack")
	check(t, loadSrc(t, probe), "loaded after the attack")
}

// A script allowed reflect cannot reach what another interpreter sees
// through the symbols it was given.
func TestIsolationWithReflect(t *testing.T) {
	attacker := loadSrc(t, `package attack

import (
	"errors"
	"io"
	"reflect"
	"strings"
)

func SetEOF() string {
	reflect.ValueOf(&io.EOF).Elem().Set(reflect.ValueOf(errors.New("via reflect")))
	return io.EOF.Error()
}

func SetUpper() {
	reflect.ValueOf(&strings.ToUpper).Elem().Set(reflect.ValueOf(func(string) string { return "x" }))
}
`, "reflect")
	hostEOF := io.EOF
	if res, err := callProc(t, attacker, "SetEOF", nil, nil); err != nil || res.Args[0] != "via reflect" {
		t.Fatalf("SetEOF() = %v, %v", res, err)
	}
	// Functions are not variables: taking their address fails in the
	// script, as a panic the host recovers.
	if _, err := callProc(t, attacker, "SetUpper", nil, nil); err == nil {
		t.Error("SetUpper succeeded")
	} else if _, ok := err.(*PanicError); !ok {
		t.Errorf("SetUpper error = %T %v, want *PanicError", err, err)
	}
	if io.EOF != hostEOF {
		t.Fatal("reflect in a script changed the host's io.EOF")
	}
	fresh := loadSrc(t, `package fresh

import (
	"io"
	"strings"
)

func F() string { return io.EOF.Error() + strings.ToUpper("a") }
`)
	if res, err := callProc(t, fresh, "F", nil, nil); err != nil || res.Args[0] != "EOFA" {
		t.Errorf("fresh F() = %v, %v; want EOFA", res, err)
	}
}

// TestGenericStdlibWhenImported checks that cmp's generic functions, which
// yaegi compiles from source, are there for a script that imports cmp
// (an interpreter compiles them only then: third_party/yaegi use.go).
func TestGenericStdlibWhenImported(t *testing.T) {
	p := loadSrc(t, `package gen

import "cmp"

func Less(a, b string) bool { return cmp.Less(a, b) }

func Compare(a, b int64) int { return cmp.Compare(a, b) }
`, "cmp")
	if res, err := callProc(t, p, "Less", []any{"a", "b"}, nil); err != nil || res.Args[0] != true {
		t.Errorf(`Less("a", "b") = %v, %v`, res, err)
	}
	if res, err := callProc(t, p, "Compare", []any{int64(3), int64(2)}, nil); err != nil || res.Args[0] != int64(1) {
		t.Errorf("Compare(3, 2) = %v, %v", res, err)
	}
}
