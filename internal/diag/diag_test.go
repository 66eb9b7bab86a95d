package diag

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteCaret(t *testing.T) {
	cases := []struct {
		name string
		d    Diagnostic
		want string
	}{{
		name: "range on one line",
		d: Diagnostic{Pos: Pos{File: "c.hcl", Line: 5, Column: 15}, End: Pos{File: "c.hcl", Line: 5, Column: 21},
			Summary: "Invalid handler name", Source: `    handler = "add2"`},
		want: "c.hcl:5:15: error: Invalid handler name\n" +
			"    5 |     handler = \"add2\"\n" +
			"      |               ^^^^^^\n",
	}, {
		name: "tabs are kept so the caret lines up",
		d: Diagnostic{Pos: Pos{File: "c.hcl", Line: 2, Column: 3}, End: Pos{Line: 2, Column: 7},
			Summary: "x", Source: "\t\tsource = 1"},
		want: "c.hcl:2:3: error: x\n" +
			"    2 | \t\tsource = 1\n" +
			"      | \t\t^^^^\n",
	}, {
		// Columns count bytes; the marker counts characters.
		name: "multi-byte characters",
		d: Diagnostic{Pos: Pos{File: "c.hcl", Line: 1, Column: 16}, End: Pos{Line: 1, Column: 20},
			Summary: "x", Source: `a = "äöü" + "ß"`},
		want: "c.hcl:1:16: error: x\n" +
			"    1 | a = \"äöü\" + \"ß\"\n" +
			"      |             ^^^\n",
	}, {
		name: "range over several lines marks its start",
		d: Diagnostic{Severity: Warning, Pos: Pos{File: "c.hcl", Line: 3, Column: 5}, End: Pos{Line: 9, Column: 2},
			Summary: "x", Detail: "why", Source: "    config = {"},
		want: "c.hcl:3:5: warning: x: why\n" +
			"    3 |     config = {\n" +
			"      |     ^\n",
	}, {
		name: "column past the end of the line",
		d: Diagnostic{Pos: Pos{File: "c.hcl", Line: 1, Column: 40}, End: Pos{Line: 1, Column: 41},
			Summary: "x", Source: "ab"},
		want: "c.hcl:1:40: error: x\n" +
			"    1 | ab\n" +
			"      |   ^\n",
	}, {
		name: "no position",
		d:    Diagnostic{Summary: "cannot prepare interpreter", Detail: "boom"},
		want: "error: cannot prepare interpreter: boom\n",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			Write(&b, Diagnostics{c.d})
			if b.String() != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), c.want)
			}
		})
	}
}

func TestWriteReadsSourceFromDisk(t *testing.T) {
	f := filepath.Join(t.TempDir(), "add2.go")
	if err := os.WriteFile(f, []byte("package add2\n\nfunc Add2(x, y int) int { return x + z }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Write(&b, Diagnostics{{Pos: Pos{File: f, Line: 3, Column: 38}, Summary: "undefined: z"}})
	want := f + ":3:38: error: undefined: z\n" +
		"    3 | func Add2(x, y int) int { return x + z }\n" +
		"      |                                      ^\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestErrorAndHasErrors(t *testing.T) {
	ds := Diagnostics{{Severity: Warning, Summary: "w"}}
	if ds.HasErrors() || ds.Err() != nil {
		t.Fatal("warnings alone must not be an error")
	}
	ds = append(ds, Diagnostic{Pos: Pos{File: "f", Line: 2}, Summary: "e"})
	if !ds.HasErrors() || ds.Err() == nil {
		t.Fatal("an error diagnostic must make Err non-nil")
	}
	if got := ds.Error(); got != "warning: w\nf:2: error: e" || strings.Count(got, "\n") != 1 {
		t.Errorf("Error() = %q", got)
	}
}
