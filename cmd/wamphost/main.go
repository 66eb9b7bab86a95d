// Command wamphost hosts WAMP application components written as Go
// scripts. It reads components.hcl, serves the embedded router (or attaches
// to an external one), and binds each script function to its URIs.
//
// This file is flags, signals and wiring; the work happens in loader,
// interp and host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/host"
	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/internal/notify"
	"github.com/wamphost/wamphost/loader"
)

// Exit codes: 0 ok, 1 problems (bad config, failed run), 2 usage.
const (
	exitOK      = 0
	exitProblem = 1
	exitUsage   = 2
)

const usage = `wamphost hosts WAMP components written as Go scripts.

Usage:
  wamphost <command> [flags]

Commands:
  init      create a components.hcl and an example component to start from
  run       serve the components in a config file (default ./components.hcl)
  validate  load the config and every script, check every binding, and exit
  test      run handler tests (*.test.hcl) against the components, without a router
  fmt       rewrite config files in the canonical HCL style
  reload    make a running daemon reload its config, and wait for the result
  version   print the version of wamphost and its key dependencies

Exit status: 0 ok, 1 problems found (or the command failed), 2 usage error.

Run 'wamphost <command> -h' for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "fmt":
		return cmdFmt(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "version":
		return cmdVersion(args[1:], stdout, stderr)
	case "test":
		return cmdTest(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "wamphost: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// commonFlags are shared by the commands that read a config.
type commonFlags struct {
	config   string
	logLevel string
	logJSON  bool

	level      hclog.Level // logLevel, parsed by logger
	levelGiven bool        // -log-level was on the command line
}

func newFlagSet(name, summary string, stderr io.Writer) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := &commonFlags{}
	fs.StringVar(&cf.config, "config", "components.hcl", "config `file` (HCL, or HCL's JSON syntax if it ends in .json)")
	fs.StringVar(&cf.logLevel, "log-level", "info", "log `level`: trace, debug, info, warn or error;\noverrides the config's daemon { log_level = ... } when given")
	fs.BoolVar(&cf.logJSON, "log-json", false, "log JSON lines instead of text (for log collectors)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wamphost %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs, cf
}

func parseFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, exitOK
		}
		return false, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return false, exitUsage
	}
	return true, 0
}

// logger makes the root logger; components log through named children
// that share its level, so a reload's new log_level reaches them all.
// When stderr is the journal, which stamps every line itself, lines carry
// no timestamp of their own.
func (cf *commonFlags) logger(fs *flag.FlagSet, stderr io.Writer) (hclog.Logger, error) {
	level, err := parseLevel(cf.logLevel)
	if err != nil {
		return nil, err
	}
	cf.level, cf.levelGiven = level, flagGiven(fs, "log-level")
	return hclog.New(&hclog.LoggerOptions{
		Name:        "wamphost",
		Level:       level,
		Output:      stderr,
		JSONFormat:  cf.logJSON,
		DisableTime: !cf.logJSON && toJournal(stderr),
	}), nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("run", `Serve the components declared in the config file. By default the embedded
router listens on ws://127.0.0.1:8080/ws with realm realm1, so the Autobahn
guide's examples run unchanged. SIGINT or SIGTERM stops taking new calls,
lets calls in flight finish within the grace period, and exits 0.`, stderr)
	watch := fs.Bool("watch", true, "reload when the config or a script changes (SIGHUP always reloads);\noverrides the config's daemon { watch = ... } when given")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	log, err := cf.logger(fs, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "wamphost:", err)
		return exitUsage
	}
	sd := notify.FromEnv()
	cfg, ds := loader.Load(cf.config)
	if ds.HasErrors() {
		diag.Write(stderr, ds)
		_ = sd.SetStatus("config invalid: " + ds.Error())
		return exitProblem
	}
	diag.Write(stderr, ds)
	log.SetLevel(cf.configLevel(cfg.LogLevel))

	h := host.New(cfg, host.Options{Logger: log, ScriptStdout: stdout})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &daemon{h: h, cf: cf, log: log, sd: sd, stderr: stderr, requests: make(chan reloadRequest)}
	if cf.logJSON {
		d.stderr = nil
	}
	// life outlasts ctx: /readyz must answer 503 and the watchdog keep
	// going while calls in flight finish.
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	if err := d.observe(ctx, life, cfg.MetricsListen); err != nil {
		log.Error("cannot serve metrics", "error", err)
		return exitProblem
	}
	_ = sd.SetStatus(fmt.Sprintf("starting %d component(s)", len(cfg.Components)))
	if err := h.Start(ctx); err != nil {
		var ds diag.Diagnostics
		if errors.As(err, &ds) {
			diag.Write(stderr, ds)
		} else {
			log.Error("start failed", "error", err)
		}
		_ = sd.SetStatus("start failed: " + err.Error())
		return exitProblem
	}
	watching := *watch
	if !flagGiven(fs, "watch") && cfg.Watch != nil {
		watching = *cfg.Watch
	}
	var triggers <-chan struct{}
	var watcher *host.Watcher
	if watching {
		watcher, err = host.NewWatcher(log.Named("watch"), host.DefaultDebounce)
		if err != nil {
			log.Error("file watching unavailable; SIGHUP still reloads", "error", err)
		} else {
			defer watcher.Close()
			watcher.Set(cf.config, watchList(cf.config, h))
			triggers = watcher.Triggers()
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go d.watchdog(life)
	_ = sd.Ready(d.status())
	log.Info("ready", "components", len(cfg.Components), "watch", watching, "embedded_router", h.Addr() != nil)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			log.Info("SIGHUP: reloading")
			d.reload(ctx)
		case <-triggers:
			d.reload(ctx)
		case req := <-d.requests:
			log.Info("reload requested over HTTP")
			text, err := d.reload(ctx)
			req.reply <- reloadReply{text, err}
		}
		if watcher != nil {
			// Sources may have moved or appeared with the new config, even
			// one that failed to apply: its fix must be noticed too.
			watcher.Set(cf.config, watchList(cf.config, h))
		}
	}
	stop()
	h.BeginStop()
	grace := h.Config().ShutdownGrace
	log.Info("stopping", "grace", grace)
	// Past TimeoutStopSec= systemd kills; ask for the grace period and a
	// margin for OnLeave and leaving the realms.
	_ = sd.Stopping("stopping: calls in flight have "+grace.String(), grace+10*time.Second)
	graceCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := h.Shutdown(graceCtx); err != nil {
		log.Error("shutdown", "error", err)
		return exitProblem
	}
	log.Info("stopped")
	return exitOK
}

func watchList(config string, h *host.Host) []string {
	return append(h.Sources(), loader.SourcesNamed(config)...)
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlagSet("validate", `Load the config and every component's scripts, check that every handler
exists with an accepted signature, and print what is wrong with file:line:col.
Exits 0 when everything is valid and 1 otherwise. Nothing is started.

With -json, print every diagnostic (errors and warnings) to stdout as a JSON
array of {severity, pos, end, summary, detail} objects, for editors and CI;
the array is empty when there is nothing to say.`, stderr)
	asJSON := fs.Bool("json", false, "print diagnostics as JSON on stdout")
	if ok, code := parseFlags(fs, args); !ok {
		return code
	}
	cfg, ds := loader.Load(cf.config)
	if !ds.HasErrors() {
		ds = append(ds, host.Check(cfg)...)
	}
	if *asJSON {
		if err := diag.WriteJSON(stdout, ds); err != nil {
			fmt.Fprintln(stderr, "wamphost:", err)
			return exitProblem
		}
		if ds.HasErrors() {
			return exitProblem
		}
		return exitOK
	}
	diag.Write(stderr, ds)
	if ds.HasErrors() {
		return exitProblem
	}
	fmt.Fprintf(stdout, "%s: %d component(s) valid\n", cf.config, len(cfg.Components))
	return exitOK
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(stdout, "wamphost (unknown version)")
		return exitOK
	}
	version := info.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				version += "+" + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(stdout, "wamphost %s (%s)\n", version, info.GoVersion)
	for _, d := range info.Deps {
		for _, key := range []string{"github.com/gammazero/nexus/v3", "github.com/traefik/yaegi", "github.com/hashicorp/hcl/v2"} {
			if d.Path == key {
				patched := ""
				if d.Replace != nil {
					patched = " (patched copy: third_party/yaegi, see docs/dependencies.md)"
				}
				fmt.Fprintf(stdout, "  %s %s%s\n", d.Path, d.Version, patched)
			}
		}
	}
	return exitOK
}
