package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/wamphost/wamphost/internal/e2e"
)

const obsConfig = `
router {
  listen = "127.0.0.1:0"
}
daemon {
  watch          = false
  metrics_listen = "127.0.0.1:0"
  shutdown_grace = "20s"
  LOGLEVEL
}
component "app" {
  source = "app"
  register "com.test.add"  { handler = "Add" }
  register "com.test.fail" { handler = "Fail" }
  register "com.test.slow" { handler = "Slow" }
  register "com.test.chat" { handler = "Chat" }
  subscribe "com.test.tick" { handler = "OnTick" }
}
`

const obsScript = `package app

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var log wamp.Logger

func OnJoin(ctx context.Context, s wamp.Session) error {
	log = s.Log()
	return nil
}

func Add(x, y int) int { return x + y }

func Fail() error { return wamp.NewError("com.test.error.refused", "no") }

func Slow(ctx context.Context, ms int) (string, error) {
	log.Info("slow call started")
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return "done", nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Chat logs at debug, then at info, so the info line shows the debug one
// was logged or suppressed by then.
func Chat(n int) int {
	log.Debug("chatter-debug", "n", n)
	log.Info("chatter-info", "n", n)
	return n
}

func OnTick(n int) {}
`

var metricsURL = regexp.MustCompile(`metrics listening: url=http://(\S+)/metrics`)

// startObserved starts a daemon with the observability listener on a free
// port and returns it with the listener's base URL, read from its log.
func startObserved(t *testing.T, logLevel string, args ...string) (*e2e.Daemon, string) {
	t.Helper()
	cfg := strings.Replace(obsConfig, "LOGLEVEL", logLevel, 1)
	d := e2e.Start(t, e2e.Files{"components.hcl": cfg, "app/app.go": obsScript}, args...)
	m := metricsURL.FindStringSubmatch(d.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", d.Logs())
	}
	return d, "http://" + m[1]
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var labelPair = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// metricValue finds the sample of name whose labels include want, in the
// Prometheus text format; ok is false when there is none.
func metricValue(body, name string, want map[string]string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, _ := strings.Cut(line, " ")
		n, labels, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		got := map[string]string{}
		for _, m := range labelPair.FindAllStringSubmatch(labels, -1) {
			got[m[1]] = m[2]
		}
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
			}
		}
		if match {
			f, err := strconv.ParseFloat(value, 64)
			return f, err == nil
		}
	}
	return 0, false
}

type sample struct {
	name   string
	labels map[string]string
	want   float64
}

func checkMetrics(t *testing.T, body string, samples ...sample) {
	t.Helper()
	for _, s := range samples {
		got, ok := metricValue(body, s.name, s.labels)
		if !ok || got != s.want {
			t.Errorf("%s%v = %v (found %v), want %v", s.name, s.labels, got, ok, s.want)
		}
	}
}

// waitMetrics scrapes until every sample has its value: one scrape is not
// a snapshot (the registry gathers collectors concurrently), so a scrape
// that sees a reload counted may not see the rest of what it changed yet.
func waitMetrics(t *testing.T, base string, samples ...sample) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, base+"/metrics")
		settled := true
		for _, s := range samples {
			if got, ok := metricValue(body, s.name, s.labels); !ok || got != s.want {
				settled = false
			}
		}
		if settled {
			return body
		}
		if time.Now().After(deadline) {
			checkMetrics(t, body, samples...)
			t.FailNow()
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// waitMetric scrapes until name{labels} reaches want.
func waitMetric(t *testing.T, base, name string, labels map[string]string, want float64) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := get(t, base+"/metrics")
		if v, ok := metricValue(body, name, labels); ok && v >= want {
			return body
		}
		if time.Now().After(deadline) {
			v, _ := metricValue(body, name, labels)
			t.Fatalf("%s%v stayed at %v, want %v", name, labels, v, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// TestMetricsAfterTraffic makes calls, failing calls and events, then
// scrapes /metrics and checks each counter, and the reload series after a
// good and a refused reload.
func TestMetricsAfterTraffic(t *testing.T) {
	d, base := startObserved(t, "")
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz %d %q", code, body)
	}
	c := d.Client("realm1")
	for i := 0; i < 5; i++ {
		if _, err := call(t, c, "com.test.add", nxwamp.List{i, 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		_, err := call(t, c, "com.test.fail", nil, nil)
		if e := rpcErr(t, err); e.Error != "com.test.error.refused" {
			t.Fatalf("fail: %v", e.Error)
		}
	}
	for i := 0; i < 4; i++ {
		if err := c.Publish("com.test.tick", nil, nxwamp.List{i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	app := map[string]string{"component": "app"}
	body := waitMetric(t, base, "wamphost_events_received_total", map[string]string{"component": "app", "topic": "com.test.tick"}, 4)
	checkMetrics(t, body,
		sample{"wamphost_calls_total", map[string]string{"component": "app", "procedure": "com.test.add", "error": ""}, 5},
		sample{"wamphost_calls_total", map[string]string{"component": "app", "procedure": "com.test.fail", "error": "com.test.error.refused"}, 3},
		sample{"wamphost_call_duration_seconds_count", map[string]string{"component": "app", "procedure": "com.test.add"}, 5},
		sample{"wamphost_call_duration_seconds_count", map[string]string{"component": "app", "procedure": "com.test.fail"}, 3},
		sample{"wamphost_events_received_total", map[string]string{"topic": "com.test.tick"}, 4},
		sample{"wamphost_events_dropped_total", map[string]string{"topic": "com.test.tick"}, 0},
		sample{"wamphost_event_queue_depth", map[string]string{"component": "app", "topic": "com.test.tick"}, 0},
		sample{"wamphost_calls_rejected_total", map[string]string{"procedure": "com.test.add"}, 0},
		sample{"wamphost_components", nil, 1},
		sample{"wamphost_client_sessions", nil, 1},
		sample{"wamphost_ready", nil, 1},
		sample{"wamphost_reloads_total", map[string]string{"result": "ok"}, 0},
		sample{"wamphost_reloads_total", map[string]string{"result": "failed"}, 0},
		sample{"wamphost_last_reload_success", nil, 1},
	)
	if _, ok := metricValue(body, "wamphost_interpreter_rebuilds_total", app); ok {
		t.Error("rebuilds counted before any reload")
	}
	if _, ok := metricValue(body, "go_goroutines", nil); !ok {
		t.Error("no Go runtime metrics")
	}

	// A second client shows up in the session gauge.
	c2 := d.Client("realm1")
	waitMetric(t, base, "wamphost_client_sessions", nil, 2)
	c2.Close()

	// A good reload that changes the script, then a refused one.
	before := float64(time.Now().Unix())
	e2e.Write(t, d.Dir, e2e.Files{"app/app.go": strings.Replace(obsScript, "return x + y", "return x + y + 0", 1)})
	d.Signal(syscall.SIGHUP)
	body = waitMetrics(t, base,
		sample{"wamphost_reloads_total", map[string]string{"result": "ok"}, 1},
		sample{"wamphost_last_reload_success", nil, 1},
		sample{"wamphost_interpreter_rebuilds_total", map[string]string{"component": "app", "reason": "reload"}, 1},
		sample{"wamphost_client_sessions", nil, 1},
	)
	if ts, _ := metricValue(body, "wamphost_last_reload_timestamp_seconds", nil); ts < before {
		t.Errorf("last reload timestamp %v is before the reload (%v)", ts, before)
	}
	e2e.Write(t, d.Dir, e2e.Files{"app/app.go": "package app\n\nfunc Add(x int) int { return x +"})
	d.Signal(syscall.SIGHUP)
	waitMetrics(t, base,
		sample{"wamphost_reloads_total", map[string]string{"result": "failed"}, 1},
		sample{"wamphost_last_reload_success", nil, 0},
		sample{"wamphost_reloads_total", map[string]string{"result": "ok"}, 1},
		sample{"wamphost_ready", nil, 1},
	)
}

// TestGracefulStop: on SIGTERM /readyz turns 503 at once, a new call gets
// wamp.error.unavailable, the call in flight still finishes, and the
// daemon exits 0.
func TestGracefulStop(t *testing.T) {
	d, base := startObserved(t, "")
	c := d.Client("realm1")
	var wg sync.WaitGroup
	var slowRes *nxwamp.Result
	var slowErr error
	var slowDone time.Time
	wg.Add(1)
	go func() {
		defer wg.Done()
		slowRes, slowErr = call(t, c, "com.test.slow", nxwamp.List{3000}, nil)
		slowDone = time.Now()
	}()
	d.WaitLog("slow call started", 1, 10*time.Second)
	d.Signal(syscall.SIGTERM)

	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, base+"/readyz")
		if code == http.StatusServiceUnavailable {
			if body != "stopping\n" {
				t.Fatalf("/readyz while stopping: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after SIGTERM", code)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	_, body := get(t, base+"/metrics")
	checkMetrics(t, body, sample{"wamphost_ready", nil, 0})
	c2 := d.Client("realm1")
	_, err := call(t, c2, "com.test.add", nxwamp.List{1, 2}, nil)
	if e := rpcErr(t, err); e.Error != "wamp.error.unavailable" {
		t.Fatalf("new call while stopping: %v, want wamp.error.unavailable", e.Error)
	}
	checked := time.Now()
	wg.Wait()
	if slowErr != nil || len(slowRes.Arguments) != 1 || slowRes.Arguments[0] != "done" {
		t.Fatalf("call in flight: %v %v", slowRes, slowErr)
	}
	if !slowDone.After(checked) {
		t.Fatal("the slow call ended before the checks: it was not in flight during them")
	}
	if code := d.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if d.LogCount("wamphost: stopped") != 1 {
		t.Fatal("no \"stopped\" line")
	}
}

// TestLogLevelFollowsReload: daemon { log_level } applies on reload, to
// component loggers too; -log-level wins when given.
func TestLogLevelFollowsReload(t *testing.T) {
	d, _ := startObserved(t, `log_level = "info"`)
	c := d.Client("realm1")
	chat := func(n int) {
		t.Helper()
		if _, err := call(t, c, "com.test.chat", nxwamp.List{n}, nil); err != nil {
			t.Fatal(err)
		}
		d.WaitLog("chatter-info: n="+strconv.Itoa(n), 1, 10*time.Second)
	}
	chat(1)
	if d.LogCount("chatter-debug: n=1") != 0 {
		t.Fatal("debug line at log_level info")
	}
	cfg := strings.Replace(obsConfig, "LOGLEVEL", `log_level = "debug"`, 1)
	e2e.Write(t, d.Dir, e2e.Files{"components.hcl": cfg})
	d.Signal(syscall.SIGHUP)
	d.WaitLog("log level changed: from=info to=debug", 1, 10*time.Second)
	chat(2)
	if d.LogCount("chatter-debug: n=2") != 1 {
		t.Fatal("no component debug line after log_level became debug")
	}

	// The flag wins over the config.
	d2, _ := startObserved(t, `log_level = "debug"`, "-log-level", "info")
	c2 := d2.Client("realm1")
	if _, err := call(t, c2, "com.test.chat", nxwamp.List{3}, nil); err != nil {
		t.Fatal(err)
	}
	d2.WaitLog("chatter-info: n=3", 1, 10*time.Second)
	if d2.LogCount("chatter-debug") != 0 {
		t.Fatal("config's log_level beat -log-level")
	}
}

// TestReloadCommand runs `wamphost reload` against a daemon: it waits for
// the outcome and exits 0 when the reload applied, 1 with the diagnostics
// when it was refused.
func TestReloadCommand(t *testing.T) {
	d, base := startObserved(t, "")
	addr := strings.TrimPrefix(base, "http://")
	reload := func() (int, string, string) {
		cmd := exec.Command(e2e.Binary(t), "reload", "-addr", addr)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
	}
	e2e.Write(t, d.Dir, e2e.Files{"app/app.go": strings.Replace(obsScript, "return x + y", "return x + y + 1000", 1)})
	code, out, errOut := reload()
	if code != 0 || !strings.HasPrefix(out, "reloaded: rebuilt app (took ") {
		t.Fatalf("good reload: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The reload had applied by the time the command returned.
	c := d.Client("realm1")
	if res, err := call(t, c, "com.test.add", nxwamp.List{1, 2}, nil); err != nil || fmt.Sprint(res.Arguments...) != "1003" {
		t.Fatalf("after reload: %v %v", res, err)
	}
	e2e.Write(t, d.Dir, e2e.Files{"app/app.go": "package app\n\nfunc Add(x, y int) int { return x + }\n"})
	code, out, errOut = reload()
	if code != 1 || out != "" || !strings.Contains(errOut, "reload failed; the previous version keeps serving") ||
		!regexp.MustCompile(`app\.go:3:\d+: error:`).MatchString(errOut) || !strings.Contains(errOut, "return x + }") {
		t.Fatalf("bad reload: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if res, err := call(t, c, "com.test.add", nxwamp.List{1, 2}, nil); err != nil || fmt.Sprint(res.Arguments...) != "1003" {
		t.Fatalf("after a refused reload the old code must serve: %v %v", res, err)
	}
	// Not a GET, and not from elsewhere than loopback (only loopback is
	// reachable in tests, so only the method is checked here).
	if code, _ := get(t, base+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", code)
	}
}

// TestJournalLogging: when stderr is the journal's stream, lines carry no
// timestamp of their own; anywhere else they do.
func TestJournalLogging(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	logLine := func() string {
		fs, cf := newFlagSet("run", "", io.Discard)
		_ = fs.Parse(nil)
		log, err := cf.logger(fs, f)
		if err != nil {
			t.Fatal(err)
		}
		off, _ := f.Seek(0, io.SeekEnd)
		log.Info("hello")
		b := make([]byte, 200)
		n, _ := f.ReadAt(b, off)
		return string(b[:n])
	}
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT`)
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(st.Ino, 10))
	if l := logLine(); stamp.MatchString(l) || !strings.HasPrefix(l, "[INFO]  wamphost: hello") {
		t.Fatalf("journal line %q", l)
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(st.Ino+1, 10))
	if l := logLine(); !stamp.MatchString(l) {
		t.Fatalf("line to another stream %q lacks a timestamp", l)
	}
}

// TestReadyzBeforeJoin: /readyz answers 503 until every component has
// joined (here OnJoin takes a while), and /healthz answers all along.
func TestReadyzBeforeJoin(t *testing.T) {
	cfg := strings.Replace(obsConfig, "LOGLEVEL", "", 1)
	slowJoin := strings.Replace(obsScript, "log = s.Log()", "log = s.Log()\n\ttime.Sleep(2 * time.Second)", 1)
	dir := t.TempDir()
	e2e.Write(t, dir, e2e.Files{"components.hcl": cfg, "app/app.go": slowJoin})
	d := e2e.LaunchIn(t, dir)
	d.WaitLog("metrics listening", 1, 30*time.Second)
	base := "http://" + metricsURL.FindStringSubmatch(d.Logs())[1]
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "starting") {
		t.Fatalf("/readyz before the components joined: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while starting: %d", code)
	}
	d.WaitReady(30 * time.Second)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz once ready: %d", code)
	}
}

// TestReloadsKeepNothing: a hundred reloads that each change the script
// leave no goroutine and no interpreter behind (each old one would pin
// about 0.3 MB). A development session saves hundreds of times.
func TestReloadsKeepNothing(t *testing.T) {
	d, base := startObserved(t, "")
	c := d.Client("realm1")
	call := func(want int) {
		t.Helper()
		res := mustCall(t, c, "com.test.add", nxwamp.List{want, 0}, nil)
		if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != int64(want) {
			t.Fatalf("add(%d, 0) = %v", want, res.Arguments)
		}
	}
	call(1)
	_, body := get(t, base+"/metrics")
	goroutines, _ := metricValue(body, "go_goroutines", nil)
	const reloads = 100
	for i := 1; i <= reloads; i++ {
		e2e.Write(t, d.Dir, e2e.Files{"app/app.go": strings.Replace(obsScript, "return x + y", fmt.Sprintf("return x + y + 0*%d", i), 1)})
		d.Signal(syscall.SIGHUP)
		d.WaitLog("reloaded", i, 10*time.Second)
	}
	call(1)
	// Old code retires once its calls drain, and its goroutines end.
	body = waitMetrics(t, base, sample{"wamphost_interpreter_rebuilds_total", map[string]string{"component": "app", "reason": "reload"}, reloads})
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := metricValue(body, "go_goroutines", nil)
		heap, _ := metricValue(body, "go_memstats_heap_alloc_bytes", nil)
		// Live memory is a few MB; a hundred pinned interpreters would
		// be 30 MB more, and garbage stays below twice the live heap.
		if n <= goroutines+2 && heap < 20<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d reloads: %v goroutines (%v before), %.1f MB heap", reloads, n, goroutines, heap/(1<<20))
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for a condition
		_, body = get(t, base+"/metrics")
	}
}
