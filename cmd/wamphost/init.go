package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// scaffold is what `wamphost init` writes: a config serving one example
// component, with the observability listener on so that a unit file's
// `wamphost reload` and a Prometheus scrape work from the start.
var scaffold = []struct{ path, content string }{
	{"components.hcl", `# wamphost config: see docs/configuration.md for every block and attribute.
#
#   wamphost validate   # check this file and every script
#   wamphost run        # serve it; saving a file reloads

router {
  listen = "127.0.0.1:8080"
  path   = "/ws"

  realm "realm1" {}
}

daemon {
  shutdown_grace = "10s"
  log_level      = "info"
  # /metrics, /healthz, /readyz, and what ` + "`wamphost reload`" + ` talks to.
  metrics_listen = "127.0.0.1:9180"
}

component "hello" {
  source = "components/hello"

  config = {
    greeting = "Hello"
  }

  register "com.example.hello" {
    handler = "Hello"
  }

  subscribe "com.example.greeted" {
    handler = "OnGreeted"
  }
}
`},
	{"components/hello/hello.go", `// Package hello is an example wamphost component: a procedure that
// answers, an event it publishes, and a subscription that receives it.
// Edit it while ` + "`wamphost run`" + ` serves it: a save reloads it.
package hello

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var (
	session  wamp.Session
	greeting = "Hello"
)

// OnJoin runs once the component has joined its realm, before any call.
func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	var cfg struct {
		Greeting string ` + "`json:\"greeting\"`" + `
	}
	if err := s.Config(&cfg); err != nil {
		return err
	}
	if cfg.Greeting != "" {
		greeting = cfg.Greeting
	}
	return nil
}

// Hello answers com.example.hello: call it with one argument, a name.
func Hello(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", wamp.NewError("com.example.error.no_name", "say who to greet")
	}
	if err := session.Publish("com.example.greeted", name); err != nil {
		session.Log().Warn("publish failed", "error", err)
	}
	return greeting + ", " + name + "!", nil
}

// OnGreeted receives com.example.greeted events.
func OnGreeted(name string) {
	session.Log().Info("greeted", "name", name)
}
`},
}

func cmdInit(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("init", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(stderr, `Usage: wamphost init [DIR]

Create DIR (default: the current directory) with a components.hcl and one
example component, components/hello, that validates and runs as written.
Nothing is overwritten: if any of the files exists, init writes none of them
and exits 1.
`)
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fset.NArg() > 1 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fset.Args()[1:], " "))
		fset.Usage()
		return exitUsage
	}
	dir := "."
	if fset.NArg() == 1 {
		dir = fset.Arg(0)
	}
	var exists []string
	for _, f := range scaffold {
		p := filepath.Join(dir, f.path)
		if _, err := os.Lstat(p); err == nil {
			exists = append(exists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintln(stderr, "wamphost init:", err)
			return exitProblem
		}
	}
	if len(exists) > 0 {
		fmt.Fprintf(stderr, "wamphost init: refusing to overwrite %s; nothing written\n", strings.Join(exists, ", "))
		return exitProblem
	}
	for _, f := range scaffold {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(stderr, "wamphost init:", err)
			return exitProblem
		}
		// O_EXCL: a file that appeared since the check is still not clobbered.
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = io.WriteString(out, f.content)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "wamphost init:", err)
			return exitProblem
		}
		fmt.Fprintln(stdout, "created", p)
	}
	cfg := filepath.Join(dir, "components.hcl")
	fmt.Fprintf(stdout, "\nNext:\n  wamphost validate -config %s\n  wamphost run -config %s\n", cfg, cfg)
	return exitOK
}
