// Command bench measures wamphost against the baselines users will compare
// it with, in one run on one machine, and prints one table with ratios and
// PASS/FAIL per target. Every server runs in its own process; this process
// is the load generator. See docs/benchmarks.md.
//
//	go run ./bench [-duration 3s] [-warmup 1s] [-only rpc,fanout,reload,startup,work] [-json]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	duration, warmup time.Duration
	rounds           int
	only             map[string]bool
	json             bool
}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "role-inproc":
			err = roleInproc(os.Args[2:])
		case "role-callee":
			err = roleCallee(os.Args[2:])
		case "role-load":
			err = roleLoad(os.Args[2:])
		default:
			goto orchestrate
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, os.Args[1]+":", err)
			os.Exit(1)
		}
		return
	}
orchestrate:
	var o options
	var only string
	flag.DurationVar(&o.duration, "duration", 6*time.Second, "measured time per setup and cell (split across -rounds turns)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up per setup and cell (split across turns, at least 200ms each)")
	flag.IntVar(&o.rounds, "rounds", 6, "turns per cell: the setups compared in a cell take turns, so that noise falls on all of them")
	flag.StringVar(&only, "only", "", "comma-separated workloads to run: rpc, fanout, reload, startup, work (default all)")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.Parse()
	o.only = map[string]bool{}
	for _, w := range strings.Split(only, ",") {
		if w = strings.TrimSpace(w); w != "" {
			if !knownWorkloads[w] {
				fmt.Fprintf(os.Stderr, "bench: unknown workload %q (rpc, fanout, reload, startup, work)\n", w)
				os.Exit(2)
			}
			o.only[w] = true
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var knownWorkloads = map[string]bool{"rpc": true, "fanout": true, "reload": true, "startup": true, "work": true}

func (o options) want(w string) bool { return len(o.only) == 0 || o.only[w] }

// env is what every workload needs: binaries and a scratch directory.
type env struct {
	o        options
	root     string // module root
	tmp      string
	wamphost string
	self     string
	nexusd   string
	python   string
	rows     []row
}

func run(o options) error {
	began := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "wamphost-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e := &env{o: o, root: root, tmp: tmp, python: "/usr/bin/python3"}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	logf("building wamphost")
	e.wamphost = filepath.Join(tmp, "wamphost")
	if err := goCmd(root, "build", "-o", e.wamphost, "./cmd/wamphost"); err != nil {
		return err
	}
	if o.want("rpc") {
		if e.nexusd, err = findNexusd(root); err != nil {
			return err
		}
	}
	type step struct {
		name string
		fn   func(*env) error
	}
	for _, s := range []step{{"rpc", rpcWorkload}, {"fanout", fanoutWorkload}, {"reload", reloadWorkload}, {"startup", startupWorkload}, {"work", workWorkload}} {
		if !o.want(s.name) {
			continue
		}
		if err := s.fn(e); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"machine": machine(), "rows": e.rows})
	}
	printTable(os.Stdout, e.rows)
	fmt.Printf("%s; %s per setup and cell in %d interleaved turns; total %s\n", machine(), o.duration, o.rounds, time.Since(began).Round(time.Second))
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func goCmd(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/wamphost/wamphost\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the wamphost module")
		}
		dir = parent
	}
}

// findNexusd uses the peer that scripts/install-peers.sh installs, and
// builds it there from the module proxy when it is missing.
func findNexusd(root string) (string, error) {
	dir := filepath.Join(root, ".cache", "peers", "bin")
	if p := os.Getenv("WAMPHOST_PEERS"); p != "" {
		dir = filepath.Join(p, "bin")
	}
	bin := filepath.Join(dir, "nexusd")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building nexusd v3.3.0 into %s", dir)
	mod, err := os.MkdirTemp("", "nexusd-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(mod)
	for _, args := range [][]string{
		{"mod", "init", "wamphost.local/nexusd-build"},
		{"get", "github.com/gammazero/nexus/v3@v3.3.0"},
		{"get", "github.com/gammazero/nexus/v3/nexusd@v3.3.0"},
	} {
		if err := goCmd(mod, args...); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("go", "install", "github.com/gammazero/nexus/v3/nexusd")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install nexusd: %v\n%s", err, out)
	}
	return bin, nil
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s %s/%s", model, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

var (
	wamphostReady = regexp.MustCompile(`ready: components=`)
	wamphostURL   = regexp.MustCompile(`router listening: url=(ws://\S+)`)
	roleReady     = regexp.MustCompile(`^ready(?: url=(\S+))?`)
	nexusdReady   = regexp.MustCompile(`Listening for .* connections on ws://`)
)

// startWamphost runs `wamphost run` on config (written into a fresh
// directory with files) and waits until it is ready.
func (e *env) startWamphost(name string, files map[string]string) (*proc, string, error) {
	dir, err := os.MkdirTemp(e.tmp, name+"-")
	if err != nil {
		return nil, "", err
	}
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return nil, "", err
		}
	}
	p, err := startProc("wamphost "+name, dir, syscall.SIGTERM, e.wamphost, "run", "-config", "components.hcl", "-log-level", "info")
	if err != nil {
		return nil, "", err
	}
	if _, _, err := p.waitLine(wamphostReady, 60*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	m, _, err := p.waitLine(wamphostURL, time.Second)
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, m[1], nil
}

func (e *env) startInproc(args ...string) (*proc, string, error) {
	p, err := startProc("compiled baseline", e.tmp, syscall.SIGTERM, e.self, append([]string{"role-inproc"}, args...)...)
	if err != nil {
		return nil, "", err
	}
	m, _, err := p.waitLine(roleReady, 60*time.Second)
	if err != nil {
		p.stop()
		return nil, "", err
	}
	return p, m[1], nil
}

func (e *env) startNexusd() (*proc, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	p, err := startProc("nexusd", e.tmp, syscall.SIGINT, e.nexusd, "-ws", addr, "-realm", "realm1")
	if err != nil {
		return nil, "", err
	}
	if _, _, err := p.waitLine(nexusdReady, 30*time.Second); err != nil {
		p.stop()
		return nil, "", err
	}
	return p, "ws://" + addr + "/", nil
}

// row is one line of the table.
type row struct {
	Work   string   `json:"workload"`
	Setup  string   `json:"setup"`
	Ser    string   `json:"serialization,omitempty"`
	Load   string   `json:"load,omitempty"`
	M      *measure `json:"measure,omitempty"`
	Unit   string   `json:"unit,omitempty"`
	Note   string   `json:"note,omitempty"`
	Checks []check  `json:"checks,omitempty"`
}

// check is one target: value/baseline against a minimum ratio (or, with
// Max set, a value against a ceiling).
type check struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target float64 `json:"target"`
	Max    bool    `json:"max,omitempty"`
	Pass   bool    `json:"pass"`
	Unit   string  `json:"unit,omitempty"`
}

func ratioCheck(name string, a, b, target float64) check {
	r := 0.0
	if b > 0 {
		r = a / b
	}
	return check{Name: name, Value: r, Target: target, Pass: r >= target}
}

func maxCheck(name string, v, limit float64, unit string) check {
	return check{Name: name, Value: v, Target: limit, Max: true, Pass: v < limit, Unit: unit}
}

func (c check) String() string {
	verdict := "PASS"
	if !c.Pass {
		verdict = "FAIL"
	}
	if c.Max {
		return fmt.Sprintf("%s %.3g%s < %.3g%s %s", c.Name, c.Value, c.Unit, c.Target, c.Unit, verdict)
	}
	return fmt.Sprintf("%s %.2fx >= %.2gx %s", c.Name, c.Value, c.Target, verdict)
}
