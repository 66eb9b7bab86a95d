package loader

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// SourcesNamed lists the script sources that the config file at path
// names, as well as it can read them, even when the config is invalid: a
// file watcher needs them to notice the fix (a source directory created
// after the config that names it, say).
func SourcesNamed(path string) []string {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return sourcesIn(path, src)
}

func sourcesIn(path string, src []byte) []string {
	p := hclparse.NewParser()
	var f *hcl.File
	isJSON := strings.HasSuffix(path, ".json")
	if isJSON {
		f, _ = p.ParseJSON(src, path)
	} else {
		f, _ = p.ParseHCL(src, path)
	}
	// Evaluating an out-of-range number could take minutes; Parse reports
	// it, and the watcher still sees the config file itself.
	if f == nil || checkNumbers(src, path, isJSON).HasErrors() {
		return nil
	}
	dir, _ := filepath.Abs(filepath.Dir(path))
	var raw rawFile
	ctx := evalContext(dir)
	_ = gohcl.DecodeBody(f.Body, ctx, &raw)
	var out []string
	for _, rc := range raw.Components {
		if rc == nil || rc.Source == nil {
			continue
		}
		v, diags := rc.Source.Value(ctx)
		if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			continue
		}
		s := v.AsString()
		if !filepath.IsAbs(s) {
			s = filepath.Join(dir, s)
		}
		out = append(out, filepath.Clean(s))
	}
	return out
}
