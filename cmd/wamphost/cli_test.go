package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this package's test binary as the wamphost
// command, so that testdata/script/*.txtar drive the real CLI end to end:
// flags, output and exit codes, in a fresh directory each.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"wamphost": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestCLI(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
	})
}
