package loader

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/internal/diag"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the loader's current output")

// TestErrorGoldens pins what a user sees for each kind of bad config: the
// exact text diag.Write prints, position, offending line and caret included.
func TestErrorGoldens(t *testing.T) {
	if _, set := os.LookupEnv("WAMPHOST_TEST_SURELY_UNSET"); set {
		t.Fatal("WAMPHOST_TEST_SURELY_UNSET must be unset for env_unset.hcl")
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := filepath.Glob("testdata/errors/*.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		ext := filepath.Ext(in)
		if ext != ".hcl" && ext != ".json" {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			cfg, ds := Load(in)
			if cfg != nil || !ds.HasErrors() {
				t.Fatalf("Load(%s) accepted a bad config: %v", in, ds)
			}
			for _, d := range ds {
				if d.Pos.File != in || d.Pos.Line < 1 || d.Pos.Column < 1 {
					t.Errorf("diagnostic without a full position: %+v", d)
				}
				if d.Source == "" {
					t.Errorf("diagnostic without its source line: %+v", d)
				}
			}
			var buf bytes.Buffer
			diag.Write(&buf, ds)
			// Details name absolute paths; make them relative to the
			// package so the goldens hold on any checkout.
			got := strings.ReplaceAll(buf.String(), filepath.ToSlash(cwd)+"/", "")
			golden := strings.TrimSuffix(in, ext) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./loader -run TestErrorGoldens -update)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics for %s differ from %s\n--- got:\n%s--- want:\n%s", in, golden, got, want)
			}
		})
	}
	if n < 20 {
		t.Fatalf("found %d error cases under testdata/errors; expected at least 20", n)
	}
}
