package interp

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/internal/diag"
)

// TestSourceSnapshotServesOnlyWhatWasRead: yaegi gets the recorded bytes
// under the operating-system names it uses, whatever is on disk.
func TestSourceSnapshotServesOnlyWhatWasRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.go")
	if err := os.WriteFile(file, []byte("package a // on disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSourceSnapshot()
	s.add(file, []byte("package a // checked\n"))
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{file, rel} {
		b, err := fs.ReadFile(s, name)
		if err != nil || string(b) != "package a // checked\n" {
			t.Errorf("ReadFile(%s) = %q, %v; want the checked bytes", name, b, err)
		}
	}
	entries, err := fs.ReadDir(s, dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "a.go" {
		t.Errorf("ReadDir(%s) = %v, %v; want [a.go]", dir, entries, err)
	}
	if st, err := fs.Stat(s, file); err != nil || !st.Mode().IsRegular() {
		t.Errorf("Stat(%s) = %v, %v; want a regular file", file, st, err)
	}
	for _, name := range []string{filepath.Join(dir, "b.go"), filepath.Join(dir, "..", "a.go"), "/etc/passwd"} {
		f, err := s.Open(name)
		if err == nil {
			b, _ := io.ReadAll(f)
			t.Errorf("Open(%s) served %q; want not found", name, b)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s): %v; want fs.ErrNotExist", name, err)
		}
	}
}

// TestSymlinkedScriptIsChecked: a script linked into a component directory
// is read and checked like the others (it used to be skipped by the checks
// and still run by the interpreter).
func TestSymlinkedScriptIsChecked(t *testing.T) {
	dir := writeScripts(t, map[string]string{"a.go": "package linked\n\nfunc A() int { return 1 }\n"})
	elsewhere := filepath.Join(t.TempDir(), "b.go")
	if err := os.WriteFile(elsewhere, []byte("package linked\n\nfunc B() {\n\tgo func() {}()\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "b.go")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	p, ds := Load(Options{Source: dir})
	if p != nil || !ds.HasErrors() {
		t.Fatalf("a linked script with a go statement loaded: %v", ds)
	}
	wantAt(t, ds[0], diag.Error, link, 4, 2)
	if !strings.Contains(ds[0].Detail, "s.Go(") {
		t.Errorf("detail %q does not say what to use instead", ds[0].Detail)
	}
	// A link to a good script loads, and its functions are there.
	if err := os.WriteFile(elsewhere, []byte("package linked\n\nfunc B() int { return 2 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = mustLoad(t, Options{Source: dir})
	if res, err := callProc(t, p, "B", nil, nil); err != nil || res.Args[0] != int64(2) {
		t.Errorf("B() = %v, %v", res, err)
	}
}

// TestFilesGoBuildLeavesOut: files go build would not build (a leading _,
// another GOOS, a //go:build line that does not hold) are neither checked
// nor run, and an error about a function in one says so.
func TestFilesGoBuildLeavesOut(t *testing.T) {
	other := "windows"
	if runtime.GOOS == "windows" {
		other = "linux"
	}
	dir := writeScripts(t, map[string]string{
		"a.go":               "package some\n\nfunc A() int { return 1 }\n",
		"_b.go":              "package some\n\nfunc B() { go func() {}() }\n",
		"c_" + other + ".go": "package some\n\nfunc C() int { return 3 }\n",
		"d.go":               "//go:build ignore\n\npackage some\n\nfunc D() int { return 4 }\n",
	})
	p := mustLoad(t, Options{Source: dir})
	if res, err := callProc(t, p, "A", nil, nil); err != nil || res.Args[0] != int64(1) {
		t.Fatalf("A() = %v, %v", res, err)
	}
	if len(p.Files) != 1 || filepath.Base(p.Files[0]) != "a.go" {
		t.Errorf("Files = %v; want only a.go", p.Files)
	}
	for _, name := range []string{"B", "C", "D"} {
		_, err := p.Procedure(name)
		if err == nil || !strings.Contains(err.Error(), "no exported function "+name) || !strings.Contains(err.Error(), "left out, as go build would: _b.go, c_"+other+".go, d.go") {
			t.Errorf("Procedure(%s): %v", name, err)
		}
	}
}
