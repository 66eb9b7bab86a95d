package loader

import (
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse as both syntaxes. Whatever a
// saved file holds, the daemon must answer with diagnostics, never a panic:
// a panic during a reload would take down every running component. The seed
// corpus is under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, name := range []string{"c.hcl", "c.json"} {
			cfg, ds := Parse(filepath.Join("testdata", name), src)
			if (cfg == nil) != ds.HasErrors() {
				t.Fatalf("%s: config returned: %v, diagnostics: %v; want a config exactly when there are no errors", name, cfg != nil, ds)
			}
			for _, d := range ds {
				if d.Summary == "" {
					t.Fatalf("%s: diagnostic without a summary: %+v", name, d)
				}
			}
			// The watcher reads sources from configs Parse refuses.
			sourcesIn(filepath.Join("testdata", name), src)
		}
	})
}
