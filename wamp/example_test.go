package wamp_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/wamphost/wamphost/wamp"
)

// An application error, like Autobahn's ApplicationError: the caller gets
// this URI, these arguments and these keyword arguments.
func ExampleNewError() {
	divide := func(x, y float64) (float64, error) {
		if y == 0 {
			return 0, wamp.NewError("com.myapp.error.div_by_zero", "cannot divide by zero", x).
				WithKwargs(map[string]any{"dividend": x})
		}
		return x / y, nil
	}
	_, err := divide(6, 0)
	fmt.Println(err)
	// Output: com.myapp.error.div_by_zero: cannot divide by zero, 6
}

// A caller reads the callee's error with AsError or ErrorURI, which also
// work in interpreted scripts and see through fmt.Errorf's %w.
func ExampleAsError() {
	err := fmt.Errorf("adding: %w", wamp.NewError(wamp.ErrInvalidArgument, "x must be a number"))
	if e, ok := wamp.AsError(err); ok {
		fmt.Println(e.URI, e.Args)
	}
	fmt.Println(wamp.ErrorURI(err) == wamp.ErrInvalidArgument)
	fmt.Println(wamp.ErrorURI(errors.New("not a WAMP error")) == "")
	// Output:
	// wamp.error.invalid_argument [x must be a number]
	// true
	// true
}

// A handler sends progressive results before its final result. Handler
// tests capture them by building the Invocation with NewInvocation.
func ExampleInvocation_Progress() {
	countdown := func(ctx context.Context, inv *wamp.Invocation) (int, error) {
		for i := 3; i > 0; i-- {
			// ErrNoProgress means the caller did not ask: carry on.
			if err := inv.Progress(i); err != nil && !errors.Is(err, wamp.ErrNoProgress) {
				return 0, err
			}
		}
		return 0, nil
	}
	inv := wamp.NewInvocation("com.myapp.countdown", nil, nil, func(args []any, kwargs map[string]any) error {
		fmt.Println("progress", args[0])
		return nil
	})
	final, _ := countdown(context.Background(), inv)
	fmt.Println("final", final)

	// A caller that did not ask for progress gets the final result only.
	final, _ = countdown(context.Background(), wamp.NewInvocation("com.myapp.countdown", nil, nil, nil))
	fmt.Println("final", final)
	// Output:
	// progress 3
	// progress 2
	// progress 1
	// final 0
	// final 0
}

// A handler that returns a Result controls positional and keyword results
// exactly, like Autobahn's CallResult.
func ExampleResult() {
	stats := func(xs ...float64) wamp.Result {
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		return wamp.Result{Args: []any{sum}, Kwargs: map[string]any{"count": len(xs)}}
	}
	r := stats(1, 2, 3.5)
	fmt.Println(r.Arg(0), r.Kwargs["count"], r.Arg(5))
	// Output: 6.5 3 <nil>
}
