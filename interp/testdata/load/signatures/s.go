package signatures

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

func ChanParam(c chan int) {}

func FuncParam(f func()) {}

func ErrorFirst() (error, int) { return nil, 0 }

func FuncResult() func() { return nil }

func TwoResults() (wamp.Result, int) { return wamp.Result{}, 0 }

func CtxLater(x int, ctx context.Context) {}

func InvAndArg(inv *wamp.Invocation, x int) {}

func EventReturns(ev *wamp.Event) int { return 0 }

func Good(x int) int { return x }

var NotAFunc = 3
