package interp

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wamphost/wamphost/wamp"
)

// yaegi v0.16.1 shared one select's cases between every goroutine running
// it, so concurrent calls of a handler that selects waited on each other's
// channels: wrong results, or calls that never returned. wamphost builds
// against a patched copy (third_party/yaegi); this test fails without the
// patch (and the race detector reports the shared slice).
func TestConcurrentSelectInOneHandler(t *testing.T) {
	p := loadSrc(t, `package sel

import (
	"context"
	"fmt"
	"time"
)

func Echo(ctx context.Context, n int) (int, error) {
	ch := make(chan int, 1)
	ch <- n
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(5 * time.Second):
		return -1, nil
	}
}
`)
	echo, err := p.Procedure("Echo")
	if err != nil {
		t.Fatal(err)
	}
	const calls = 64
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for j := 0; j < 50; j++ {
				n := i*1000 + j
				res, err := echo(ctx, &wamp.Invocation{Args: []any{n}})
				if err != nil {
					errs <- err
					return
				}
				if got := res.Args[0]; got != int64(n) {
					errs <- fmt.Errorf("a concurrent call got another call's value: want %d, got %v", n, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
