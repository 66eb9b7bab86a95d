package scripttest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wamphost/wamphost/loader"
)

// These tests run test files against real scripts, loaded through interp
// as `wamphost test` loads them, and check what the runner reports.

const calcScript = `package calc

import (
	"context"
	"fmt"

	"github.com/wamphost/wamphost/wamp"
)

var session wamp.Session

func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	return nil
}

func Add2(x, y int) int { return x + y }

func Half(x float64) float64 { return x / 2 }

// Kind says what Go type an argument arrived as.
func Kind(x any) string { return fmt.Sprintf("%T", x) }

func Div(x, y int) (int, error) {
	if y == 0 {
		return 0, wamp.NewError("com.calc.error.div_by_zero", "cannot divide by zero", x).
			WithKwargs(map[string]any{"dividend": x})
	}
	return x / y, nil
}

func Info() wamp.Result {
	return wamp.Result{
		Args:   []any{"calc", 2},
		Kwargs: map[string]any{"version": "1.2", "ops": []string{"add2", "div"}, "limits": map[string]any{"max": 10}},
	}
}

// Double subscribes to com.calc.in and publishes twice the value.
func Double(ctx context.Context, n int) error {
	return session.PublishWith(ctx, "com.calc.out", []any{n * 2}, map[string]any{"from": n}, wamp.PublishOptions{})
}

// Later publishes from a background goroutine, after the call returned.
func Later(ctx context.Context, n int) string {
	session.Go(func(ctx context.Context) {
		_ = session.Publish("com.calc.later", n)
	})
	return "scheduled"
}
`

const frontScript = `package front

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var session wamp.Session

type settings struct {
	Greeting string   ` + "`json:\"greeting\"`" + `
	Limit    int      ` + "`json:\"limit\"`" + `
	Tags     []string ` + "`json:\"tags\"`" + `
}

var cfg settings

func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	return s.Config(&cfg)
}

// Sum asks calc to add.
func Sum(ctx context.Context, x, y int) (any, error) {
	res, err := session.Call(ctx, "com.calc.add2", x, y)
	if err != nil {
		return nil, err
	}
	return res.Arg(0), nil
}

// Divide asks calc to divide and passes its error back as it is.
func Divide(ctx context.Context, x, y int) (any, error) {
	res, err := session.Call(ctx, "com.calc.div", x, y)
	if err != nil {
		return nil, err
	}
	return res.Arg(0), nil
}

// Missing calls a procedure nobody registered.
func Missing(ctx context.Context) error {
	_, err := session.Call(ctx, "com.nobody.here")
	return err
}

func Settings() (string, int, []string) { return cfg.Greeting, cfg.Limit, cfg.Tags }
`

const config = `
component "calc" {
  source = "calc"
  register "com.calc.add2" { handler = "Add2" }
  register "com.calc.half" { handler = "Half" }
  register "com.calc.kind" { handler = "Kind" }
  register "com.calc.div" { handler = "Div" }
  register "com.calc.info" { handler = "Info" }
  register "com.calc.later" { handler = "Later" }
  subscribe "com.calc.in" { handler = "Double" }
}

component "front" {
  source = "front"
  register "com.front.sum" { handler = "Sum" }
  register "com.front.missing" { handler = "Missing" }
  register "com.front.divide" { handler = "Divide" }
  register "com.front.settings" { handler = "Settings" }
  config = {
    greeting = "hello"
    limit    = 3
    tags     = ["a", "b"]
  }
}
`

// run writes the components and one test file, runs it, and returns the
// summary, the output and the test file's path.
func run(t *testing.T, tests string) (Summary, string, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"components.hcl": config, "calc/calc.go": calcScript, "front/front.go": frontScript, "x.test.hcl": tests,
	}
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, ds := loader.Load(filepath.Join(dir, "components.hcl"))
	if ds.HasErrors() {
		t.Fatalf("config: %s", ds.Error())
	}
	var out bytes.Buffer
	testFile := filepath.Join(dir, "x.test.hcl")
	sum, hds := Run(Options{Config: cfg, Files: Discover(dir), Out: &out})
	if hds.HasErrors() {
		t.Fatalf("test file: %s", hds.Error())
	}
	return sum, out.String(), testFile
}

// wantPass runs tests that must all pass.
func wantPass(t *testing.T, tests string) {
	t.Helper()
	sum, out, _ := run(t, tests)
	if sum.Failed != 0 || sum.Passed == 0 {
		t.Fatalf("%d passed, %d failed, want all to pass:\n%s", sum.Passed, sum.Failed, out)
	}
}

// wantFail runs one test that must fail with exactly the given failure
// lines, in which FILE stands for the test file's path.
func wantFail(t *testing.T, tests string, lines ...string) {
	t.Helper()
	sum, out, file := run(t, tests)
	if sum.Failed != 1 || sum.Passed != 0 {
		t.Fatalf("%d passed, %d failed, want 1 failure:\n%s", sum.Passed, sum.Failed, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n")[1:] {
		got = append(got, strings.TrimPrefix(l, "    "))
	}
	var want []string
	for _, l := range lines {
		want = append(want, strings.ReplaceAll(l, "FILE", file))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("failure output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !regexp.MustCompile(`^FAIL .+ \(\d+m?s\)$`).MatchString(strings.SplitN(out, "\n", 2)[0]) {
		t.Fatalf("first line %q, want FAIL name (duration)", strings.SplitN(out, "\n", 2)[0])
	}
}

func TestNumbers(t *testing.T) {
	wantPass(t, `
test "numbers" {
  call "com.calc.add2" {
    args = [2, 3]
    expect { args = [5] }
  }
  call "com.calc.add2" {
    args = [2, 3]
    expect { args = [5.0] } # the same number
  }
  call "com.calc.half" {
    args = [5]
    expect { args = [2.5] }
  }
  call "com.calc.half" {
    args = [4]
    expect { args = [2] } # a float result equals an integer expectation
  }
  call "com.calc.add2" {
    kwargs = { x = 40, y = 2 }
    expect { args = [42] }
  }
  # Whole numbers reach handlers as integers and others as floats, as
  # from a MessagePack or CBOR peer.
  call "com.calc.kind" {
    args = [7]
    expect { args = ["int64"] }
  }
  call "com.calc.kind" {
    args = [7.5]
    expect { args = ["float64"] }
  }
  call "com.calc.kind" {
    args = [-9007199254740993]
    expect { args = ["int64"] }
  }
  call "com.calc.half" {
    args = [2.5]
    expect { args = [1.25] }
  }
}
`)
	wantFail(t, `
test "wrong sum" {
  call "com.calc.add2" {
    args = [2, 3]
    expect { args = [6] }
  }
}
`, `FILE:5:21: call com.calc.add2: args[0]: got 5, want 6`)
	wantFail(t, `
test "int is not float" {
  call "com.calc.half" {
    args = [5]
    expect { args = [2] }
  }
}
`, `FILE:5:21: call com.calc.half: args[0]: got 2.5, want 2`)
	// Precision past 2^53 is kept, not rounded into a false match.
	wantFail(t, `
test "big" {
  call "com.calc.add2" {
    args = [9007199254740992, 1]
    expect { args = [9007199254740992] }
  }
}
`, `FILE:5:21: call com.calc.add2: args[0]: got 9007199254740993, want 9007199254740992`)
}

func TestKwargsAndStructure(t *testing.T) {
	wantPass(t, `
test "info" {
  call "com.calc.info" {
    expect {
      args   = ["calc", 2]
      kwargs = { version = "1.2", ops = ["add2", "div"], limits = { max = 10 } }
    }
  }
  call "com.calc.info" {
    expect { args = ["calc", 2] } # kwargs not checked
  }
}
`)
	wantFail(t, `
test "nested" {
  call "com.calc.info" {
    expect {
      kwargs = { version = "1.2", ops = ["add2", "mul"], limits = { max = 10 } }
    }
  }
}
`, `FILE:5:16: call com.calc.info: kwargs.ops[1]: got "div", want "mul"`)
	wantFail(t, `
test "extra key" {
  call "com.calc.info" {
    expect { kwargs = { version = "1.2", ops = ["add2", "div"] } }
  }
}
`, `FILE:4:23: call com.calc.info: kwargs: unexpected key "limits" (got {"limits":{"max":10},"ops":["add2","div"],"version":"1.2"})`)
	wantFail(t, `
test "length" {
  call "com.calc.info" {
    expect { args = ["calc"] }
  }
}
`, `FILE:4:21: call com.calc.info: args: got 2 values, want 1 (got ["calc",2], want ["calc"])`)
}

func TestPartialMatch(t *testing.T) {
	wantPass(t, `
test "contain" {
  call "com.calc.info" {
    expect {
      args_contain   = [2]
      kwargs_contain = { version = "1.2" }
    }
  }
  call "com.calc.div" {
    args = [1, 0]
    expect_error {
      uri            = "com.calc.error.div_by_zero"
      args_contain   = [1]
      kwargs_contain = { dividend = 1 }
    }
  }
  publish "com.calc.in" { args = [21] }
  expect_event "com.calc.out" { kwargs_contain = { from = 21 } }
}
`)
	wantFail(t, `
test "missing value" {
  call "com.calc.info" {
    expect { args_contain = ["calc", 3] }
  }
}
`, `FILE:4:29: call com.calc.info: args_contain: no value equals 3 (got ["calc",2])`)
	wantFail(t, `
test "missing key" {
  call "com.calc.info" {
    expect { kwargs_contain = { limits = { max = 11 } } }
  }
}
`, `FILE:4:31: call com.calc.info: kwargs_contain: limits.max: got 10, want 11`)
	wantFail(t, `
test "both" {
  call "com.calc.info" {
    expect {
      args         = ["calc", 2]
      args_contain = [2]
    }
  }
}
`, `FILE:6:22: call com.calc.info: args and args_contain cannot both be set`)
}

func TestExpectError(t *testing.T) {
	wantPass(t, `
test "errors" {
  call "com.calc.div" {
    args = [1, 0]
    expect_error {
      uri    = "com.calc.error.div_by_zero"
      args   = ["cannot divide by zero", 1]
      kwargs = { dividend = 1 }
    }
  }
  call "com.calc.div" {
    args = [1, 0]
    expect_error { uri = "com.calc.error.div_by_zero" }
  }
  call "com.calc.add2" {
    args = ["two", 3]
    expect_error { uri = "wamp.error.invalid_argument" }
  }
  call "com.calc.nothing" {
    expect_error { uri = "wamp.error.no_such_procedure" }
  }
}
`)
	wantFail(t, `
test "wrong uri" {
  call "com.calc.div" {
    args = [1, 0]
    expect_error { uri = "com.calc.error.other" }
  }
}
`, `FILE:5:26: call com.calc.div: error com.calc.error.div_by_zero, want com.calc.error.other (com.calc.error.div_by_zero: cannot divide by zero, 1)`)
	wantFail(t, `
test "wrong args" {
  call "com.calc.div" {
    args = [1, 0]
    expect_error {
      uri  = "com.calc.error.div_by_zero"
      args = ["cannot divide by zero", 2]
    }
  }
}
`, `FILE:7:14: call com.calc.div: error args[1]: got 1, want 2`)
	wantFail(t, `
test "no error" {
  call "com.calc.div" {
    args = [4, 2]
    expect_error { uri = "com.calc.error.div_by_zero" }
  }
}
`, `FILE:5:26: call com.calc.div: succeeded with [2], want error com.calc.error.div_by_zero`)
	wantFail(t, `
test "unexpected" {
  call "com.calc.div" {
    args = [4, 0]
    expect { args = [2] }
  }
}
`, `FILE:3:3: call com.calc.div: unexpected error com.calc.error.div_by_zero: cannot divide by zero, 4`)
}

func TestEvents(t *testing.T) {
	wantPass(t, `
test "events" {
  publish "com.calc.in" { args = [21] }
  expect_event "com.calc.out" {
    args   = [42]
    kwargs = { from = 21 }
  }
  expect_event "com.calc.in" { args = [21] }
  expect_event "com.calc.out" {} # any publication there
}

test "published later" {
  call "com.calc.later" {
    args = [5]
    expect { args = ["scheduled"] }
  }
  expect_event "com.calc.later" { args = [5] }
}
`)
	wantFail(t, `
test "wrong value" {
  publish "com.calc.in" { args = [1] }
  publish "com.calc.in" { args = [2] }
  expect_event "com.calc.out" {
    args    = [5]
    timeout = "50ms"
  }
}
`, `FILE:5:3: expect_event com.calc.out: no publication matched within 50ms; saw [2] {"from":1}; [4] {"from":2}`)
	wantFail(t, `
test "nothing" {
  expect_event "com.calc.out" {
    args    = [5]
    timeout = "50ms"
  }
}
`, `FILE:3:3: expect_event com.calc.out: nothing was published there within 50ms`)
}

func TestCallsBetweenComponents(t *testing.T) {
	wantPass(t, `
test "front asks calc" {
  call "com.front.sum" {
    args = [20, 22]
    expect { args = [42] }
  }
  call "com.front.missing" {
    expect_error { uri = "wamp.error.no_such_procedure" }
  }
}
`)
	// An error from the callee reaches the caller's caller unchanged.
	wantPass(t, `
test "callee error" {
  call "com.front.divide" {
    args = [7, 0]
    expect_error {
      uri    = "com.calc.error.div_by_zero"
      args   = ["cannot divide by zero", 7]
      kwargs = { dividend = 7 }
    }
  }
}
`)
}

func TestConfig(t *testing.T) {
	wantPass(t, `
test "settings" {
  call "com.front.settings" {
    expect { args = ["hello", 3, ["a", "b"]] }
  }
}
`)
}

// TestFreshComponentsPerTest: each test block starts with new components
// and no publications, so the second test cannot see the first's event.
func TestFreshComponentsPerTest(t *testing.T) {
	sum, out, file := run(t, `
test "first" {
  publish "com.calc.in" { args = [1] }
  expect_event "com.calc.out" { args = [2] }
}

test "second" {
  expect_event "com.calc.out" { timeout = "10ms" }
}
`)
	want := file + ":8:3: expect_event com.calc.out: nothing was published there within 10ms"
	if sum.Passed != 1 || sum.Failed != 1 || !strings.Contains(out, "FAIL second") || !strings.Contains(out, want) {
		t.Fatalf("%d passed, %d failed:\n%s\nwant first to pass and second to fail with %s", sum.Passed, sum.Failed, out, want)
	}
}
