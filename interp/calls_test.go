package interp

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/wamp"
)

// recordingSession keeps what a script publishes and answers its calls.
type recordingSession struct {
	wamp.Session
	published [][]any
}

func (r *recordingSession) Publish(topic string, args ...any) error {
	r.published = append(r.published, append([]any{topic}, args...))
	if topic == "fail" {
		return wamp.NewError("com.example.failed")
	}
	return nil
}

func (r *recordingSession) Call(ctx context.Context, procedure string, args ...any) (*wamp.Result, error) {
	if ctx == nil {
		return nil, wamp.NewError("com.example.no_context")
	}
	return &wamp.Result{Args: append([]any{procedure}, args...)}, nil
}

// TestSessionMethodAdapters: Publish and Call made by a script reach the
// session with their arguments, variadic or spread, and give back its
// results and errors, as through reflect.Value.Call; a nil session panics
// into the handler's error, not the daemon.
func TestSessionMethodAdapters(t *testing.T) {
	p := loadSrc(t, `package s

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var sess wamp.Session

func OnJoin(ctx context.Context, s wamp.Session) error { sess = s; return nil }

func None() error           { return sess.Publish("t.none") }
func Two(n int64) error     { return sess.Publish("t.two", n, "x") }
func Spread() error         { xs := []any{1, 2}; return sess.Publish("t.spread", xs...) }
func Fail() error           { return sess.Publish("fail") }
func Ask(ctx context.Context) ([]any, error) {
	res, err := sess.Call(ctx, "com.example.echo", 7, "y")
	if err != nil {
		return nil, err
	}
	return res.Args, nil
}
func Nil() error { var s wamp.Session; return s.Publish("t.nil") }
`)
	rec := &recordingSession{}
	join, err := p.OnJoin()
	if err != nil {
		t.Fatal(err)
	}
	if err := join(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	call := func(name string, args ...any) (*wamp.Result, error) {
		t.Helper()
		proc, err := p.Procedure(name)
		if err != nil {
			t.Fatal(err)
		}
		return proc(context.Background(), &wamp.Invocation{Procedure: "com.test." + name, Args: args})
	}
	for _, name := range []string{"None", "Spread"} {
		if _, err := call(name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := call("Two", int64(5)); err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"t.none"}, {"t.spread", 1, 2}, {"t.two", int64(5), "x"}}
	if !reflect.DeepEqual(rec.published, want) {
		t.Fatalf("published %#v; want %#v", rec.published, want)
	}
	if _, err := call("Fail"); wamp.ErrorURI(err) != "com.example.failed" {
		t.Fatalf("Fail: %v; want com.example.failed", err)
	}
	res, err := call("Ask")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Args; len(got) != 1 || !reflect.DeepEqual(got[0], []any{"com.example.echo", int64(7), "y"}) {
		t.Fatalf("Ask = %#v", got)
	}
	if _, err := call("Nil"); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Fatalf("Nil: %v; want a recovered nil-session panic", err)
	}
}
