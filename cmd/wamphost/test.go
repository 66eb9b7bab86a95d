package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"

	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/internal/scripttest"
	"github.com/wamphost/wamphost/loader"
)

// cmdTest runs handler tests (*.test.hcl) against the config's components
// without a router.
func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("test", `Run handler tests without a router. Each component in the config is loaded
through the interpreter exactly as 'run' loads it, joined to an in-memory
realm that routes calls between components and records publications, and
checked against the test files: the FILEs given with -f, or by default
*.test.hcl next to the config and tests/*.hcl below it. Each test block
starts from freshly loaded components. Exits 0 when every test passes.

  test "adds" {
    call "com.myapp.add2" {
      args = [2, 3]
      expect { args = [5] }
    }
  }

See docs/scripting.md, "Testing handlers".`, stderr)
	var files multiFlag
	fs.Var(&files, "f", "test `file` (repeatable); default: *.test.hcl and tests/*.hcl")
	run := fs.String("run", "", "run only tests whose name contains this `text`")
	verbose := fs.Bool("v", false, "print script logs and output")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	cfg, ds := loader.Load(cf.config)
	if ds.HasErrors() {
		diag.Write(stderr, ds)
		return exitProblem
	}
	if len(files) == 0 {
		files = scripttest.Discover(filepath.Dir(cf.config))
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "wamphost test: no test files (*.test.hcl or tests/*.hcl next to %s)\n", cf.config)
		return exitProblem
	}
	sum, hds := scripttest.Run(scripttest.Options{Config: cfg, Files: files, Out: stdout, Verbose: *verbose, Run: *run})
	if hds.HasErrors() {
		writeHCLDiags(stderr, hds)
		return exitProblem
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", sum.Passed, sum.Failed)
	if sum.Failed > 0 || sum.Passed == 0 {
		return exitProblem
	}
	return exitOK
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func writeHCLDiags(w io.Writer, ds hcl.Diagnostics) {
	for _, d := range ds {
		pos := ""
		if d.Subject != nil {
			pos = fmt.Sprintf("%s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		fmt.Fprintf(w, "%s%s: %s\n", pos, d.Summary, d.Detail)
	}
}
