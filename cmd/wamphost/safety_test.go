package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/wamphost/wamphost/internal/e2e"
)

// Each failure mode runs in a "bad" component while a "good" component in
// the same daemon keeps answering.

const safetyConfig = `
router {
  listen           = "127.0.0.1:0"
  max_message_size = 65536
}

daemon {
  call_timeout = "2s"
}

component "good" {
  source = "good"
  register "com.good.echo" { handler = "Echo" }
}

component "bad" {
  source = "bad"
  event_queue = 2
  register "com.bad.spin"    {
    handler = "Spin"
    timeout = "300ms"
  }
  register "com.bad.block"   {
    handler = "Block"
    timeout = "300ms"
  }
  register "com.bad.sleep"   {
    handler = "Sleep"
    timeout = "300ms"
  }
  register "com.bad.polite"  {
    handler = "Polite"
    timeout = "300ms"
  }
  register "com.bad.ok"      { handler = "Ok" }
  register "com.bad.limited" {
    handler = "Limited"
    concurrency = 2
  }
  subscribe "com.bad.panic"  { handler = "PanicOnEvent" }
  subscribe "com.bad.slowev" { handler = "SlowEvent" }
  subscribe "com.bad.spinev" {
    handler = "SpinOrLog"
    timeout = "300ms"
  }
}
`

const goodScript = `package good

func Echo(s string) string { return s }
`

const badScript = `package bad

import (
	"context"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

var log wamp.Logger

func OnJoin(ctx context.Context, s wamp.Session) error {
	log = s.Log()
	s.Go(func(ctx context.Context) {
		panic("helper goroutine panics")
	})
	return nil
}

func Spin() int {
	n := 0
	for {
		n++
	}
}

func Block() int {
	ch := make(chan int)
	return <-ch
}

func Sleep() int {
	time.Sleep(2 * time.Second)
	return 1
}

func Polite(ctx context.Context) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func Ok() string { return "ok" }

func Limited(ctx context.Context, ms int) string {
	log.Info("limited call started")
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-ctx.Done():
	}
	return "done"
}

func PanicOnEvent(n int) {
	var xs []int
	_ = xs[n]
}

func SpinOrLog(n int) {
	for n < 0 {
	}
	log.Info("event delivered", "n", n)
}

func SlowEvent(ms int) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
}
`

func startSafety(t *testing.T) *e2e.Daemon {
	t.Helper()
	return e2e.Start(t, e2e.Files{"components.hcl": safetyConfig, "good/good.go": goodScript, "bad/bad.go": badScript})
}

// healthyWhile calls the good component in a loop until stop closes and
// reports the slowest call; any failure fails the test.
func healthyWhile(t *testing.T, c *client.Client, stop <-chan struct{}) func() time.Duration {
	var mu sync.Mutex
	var worst time.Duration
	var failure error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := c.Call(ctx, "com.good.echo", nil, nxwamp.List{"hi"}, nil, nil)
			cancel()
			el := time.Since(start)
			mu.Lock()
			if err != nil || res.Arguments[0] != "hi" {
				failure = errors.Join(failure, err)
			}
			worst = max(worst, el)
			mu.Unlock()
		}
	}()
	return func() time.Duration {
		<-done
		if failure != nil {
			t.Errorf("the healthy component failed while another misbehaved: %v", failure)
		}
		return worst
	}
}

func wampErr(err error) string {
	var rpc client.RPCError
	if errors.As(err, &rpc) {
		return string(rpc.Err.Error)
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// cpuSeconds reads the process's user+system CPU time from /proc.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

func TestRunawayHandlers(t *testing.T) {
	d := startSafety(t)
	c := d.Client("realm1")
	stop := make(chan struct{})
	worst := healthyWhile(t, d.Client("realm1"), stop)

	for i, proc := range []string{"com.bad.spin", "com.bad.block", "com.bad.sleep"} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Call(ctx, proc, nil, nil, nil, nil)
		cancel()
		if got := wampErr(err); got != "wamp.error.timeout" {
			t.Fatalf("%s: error %s, want wamp.error.timeout", proc, got)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%s answered after %s; its deadline is 300ms", proc, el)
		}
		// Each runaway costs the component a fresh interpreter, which then
		// serves the component's other procedures.
		d.WaitLog("interpreter rebuilt after a runaway handler", i+1, 10*time.Second)
		if res, err := c.Call(context.Background(), "com.bad.ok", nil, nil, nil, nil); err != nil || res.Arguments[0] != "ok" {
			t.Fatalf("after %s the component does not answer: %v", proc, err)
		}
	}
	// A handler that watches its context returns at the deadline and costs
	// nothing more.
	rebuilds := d.LogCount("interpreter rebuilt")
	_, err := c.Call(context.Background(), "com.bad.polite", nil, nil, nil, nil)
	if got := wampErr(err); got != "wamp.error.timeout" {
		t.Fatalf("polite: %s, want wamp.error.timeout", got)
	}
	close(stop)
	if w := worst(); w > time.Second {
		t.Errorf("the healthy component's slowest call took %s during the runaways", w)
	}
	if n := d.LogCount("interpreter rebuilt"); n != rebuilds {
		t.Errorf("a cooperative handler caused an interpreter rebuild")
	}

	// After the for {} loop was stopped, the daemon goes back to idle: less
	// than 0.25 s of CPU per second, where a live loop burns a whole core.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := cpuSeconds(t, d.Pid())
		time.Sleep(time.Second) // the measurement window itself
		used := cpuSeconds(t, d.Pid()) - before
		if used < 0.25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon still uses %.2f CPU-seconds per second after the runaway was stopped", used)
		}
	}
}

func TestPanicsEverywhereAreContained(t *testing.T) {
	d := startSafety(t)
	c := d.Client("realm1")
	// OnJoin's helper goroutine panics; the host logs it and restarts it.
	d.WaitLog("background goroutine panicked", 1, 5*time.Second)
	// An event handler panics (index out of range).
	if err := c.Publish("com.bad.panic", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{5}, nil); err != nil {
		t.Fatal(err)
	}
	d.WaitLog("event handler panicked", 1, 5*time.Second)
	// yaegi reports the panic inside PanicOnEvent (lines 53-56 of bad.go)
	// at a statement of its choosing; the line must fall in the function.
	m := regexp.MustCompile(`event handler panicked: .*pos=\S*bad/bad\.go:(\d+):\d+`).FindStringSubmatch(d.Logs())
	if m == nil {
		t.Fatalf("event handler panic not logged with a bad.go position:\n%s", d.Logs())
	}
	if line, _ := strconv.Atoi(m[1]); line < 53 || line > 56 {
		t.Errorf("panic logged at bad.go:%d, outside PanicOnEvent (53-56)", line)
	}
	if res, err := c.Call(context.Background(), "com.good.echo", nil, nxwamp.List{"still"}, nil, nil); err != nil || res.Arguments[0] != "still" {
		t.Fatalf("daemon stopped answering after panics: %v", err)
	}
	if d.Exited() {
		t.Fatal("daemon exited")
	}
}

func TestRunawayEventHandlerDoesNotStallItsQueue(t *testing.T) {
	d := startSafety(t)
	c := d.Client("realm1")
	for _, n := range []int{-1, 7} {
		if err := c.Publish("com.bad.spinev", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{n}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The event after the runaway one is delivered (by a fresh goroutine,
	// then on a fresh interpreter) instead of waiting behind it forever.
	d.WaitLog("event delivered: n=7", 1, 10*time.Second)
	d.WaitLog("interpreter rebuilt after a runaway handler", 1, 10*time.Second)
}

func TestConcurrencyLimit(t *testing.T) {
	d := startSafety(t)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		c := d.Client("realm1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Call(context.Background(), "com.bad.limited", nil, nxwamp.List{1000}, nil, nil); err != nil {
				t.Errorf("a call within the limit failed: %v", err)
			}
		}()
	}
	d.WaitLog("limited call started", 2, 5*time.Second)
	_, err := d.Client("realm1").Call(context.Background(), "com.bad.limited", nil, nxwamp.List{10}, nil, nil)
	if got := wampErr(err); got != "wamp.error.unavailable" {
		t.Fatalf("third concurrent call: %s, want wamp.error.unavailable", got)
	}
	wg.Wait()
}

func TestEventQueueIsBounded(t *testing.T) {
	d := startSafety(t)
	c := d.Client("realm1")
	// The subscriber holds each event 500ms and queues at most 2: of 8
	// events published at once, some must be dropped and logged.
	for i := 0; i < 8; i++ {
		if err := c.Publish("com.bad.slowev", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{500}, nil); err != nil {
			t.Fatal(err)
		}
	}
	d.WaitLog("event queue full: event dropped", 1, 5*time.Second)
	if res, err := c.Call(context.Background(), "com.bad.ok", nil, nil, nil, nil); err != nil || res.Arguments[0] != "ok" {
		t.Fatalf("calls on the component stalled behind its events: %v", err)
	}
}

func TestOversizedAndMalformedMessagesCloseOnlyThatClient(t *testing.T) {
	d := startSafety(t)
	good := d.Client("realm1")

	dial := func(header http.Header) *websocket.Conn {
		dialer := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second}
		conn, _, err := dialer.Dial(d.URL, header)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	expectClosed := func(conn *websocket.Conn, what string) {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("%s: connection still open after 5s", what)
				}
				return
			}
		}
	}

	big := dial(nil)
	hello := `[1,"realm1",{"roles":{"caller":{}}}]`
	if err := big.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		t.Fatal(err)
	}
	payload := `[48,1,{},"com.good.echo",["` + strings.Repeat("x", 100_000) + `"]]`
	_ = big.WriteMessage(websocket.TextMessage, []byte(payload))
	expectClosed(big, "oversized message")

	bad := dial(nil)
	_ = bad.WriteMessage(websocket.TextMessage, []byte(`{this is not wamp`))
	expectClosed(bad, "malformed message")

	if res, err := good.Call(context.Background(), "com.good.echo", nil, nxwamp.List{"fine"}, nil, nil); err != nil || res.Arguments[0] != "fine" {
		t.Fatalf("another client was affected: %v", err)
	}

	// Browsers from other origins are refused unless allowed.
	dialer := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}}
	_, resp, err := dialer.Dial(d.URL, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: err %v, response %v; want 403", err, resp)
	}
}

func TestImportAllowListAtLoad(t *testing.T) {
	dir := t.TempDir()
	e2e.Write(t, dir, e2e.Files{
		"components.hcl": `component "sneaky" {
  source = "sneaky"
  register "com.sneaky.run" { handler = "Run" }
}
`,
		"sneaky/sneaky.go": "package sneaky\n\nimport \"os\"\n\nfunc Run() string { h, _ := os.Hostname(); return h }\n",
	})
	out, code := runCLI(t, dir, "validate")
	if code != 1 {
		t.Fatalf("validate exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"sneaky.go:3:8", "package os is not in the script allow-list", `allow_imports = ["os"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

// runCLI runs the built binary in dir and returns its combined output and
// exit code.
func runCLI(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := e2e.Command(t, args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}
