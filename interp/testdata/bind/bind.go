// Package bind has one handler for each way arguments and results cross
// the binder.
package bind

import (
	"context"
	"errors"
	"strings"

	"github.com/wamphost/wamphost/wamp"
)

func Add2(x, y int) int { return x + y }

func Sum(xs ...int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func Join(sep string, parts ...string) string { return strings.Join(parts, sep) }

type Person struct {
	Name string `json:"name"`
	Age  int    `json:"age,omitempty"`
}

func Greet(ctx context.Context, greeting string, p *Person) string {
	return greeting + " " + p.Name
}

func Older(p Person) Person { p.Age++; return p }

func Nothing() {}

func NothingOrError(fail bool) error {
	if fail {
		return errors.New("plain failure")
	}
	return nil
}

func Pair() (int, string, error) { return 1, "one", nil }

func Fails() (int, error) {
	return 0, wamp.NewError("com.example.not_found", "no such thing").WithKwargs(map[string]any{"id": 3})
}

func Res() wamp.Result {
	return wamp.Result{Args: []any{1, "a"}, Kwargs: map[string]any{"k": Person{Name: "n"}}}
}

func ResPtr() *wamp.Result { return &wamp.Result{Kwargs: map[string]any{"only": true}} }

func ResNil() *wamp.Result { return nil }

func BadRes() wamp.Result { return wamp.Result{Args: []any{make(chan int)}} }

func BadValue() any { return make(chan int) }

func Boom(n int) int {
	var m map[string]int
	if n > 0 {
		m["x"] = n
	}
	return n
}

func PanicValue() { panic(errors.New("custom")) }

func Full(ctx context.Context, inv *wamp.Invocation) (*wamp.Result, error) {
	return &wamp.Result{Args: []any{inv.Procedure, len(inv.Args), inv.Kwargs["k"]}}, nil
}

func HasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}

func Anything(v any) any { return v }

func MakeHandler(offset int) func(int) int {
	return func(x int) int { return x + offset }
}

var seen []string

func OnEvent(topic string, n int) error {
	if n < 0 {
		return wamp.NewError("com.example.negative")
	}
	seen = append(seen, topic)
	return nil
}

func OnEventFull(ev *wamp.Event) { seen = append(seen, ev.Topic) }

func OnEventPanic(ev *wamp.Event) { panic("event boom") }

func Seen() []string { return seen }
