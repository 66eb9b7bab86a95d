package host

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/internal/e2e"
)

// BenchmarkReloadWriteToServing measures how long a saved script takes to
// serve its first call: file write, watcher debounce, load, checks, swap.
// It reports p50 and p99 over b.N reloads (run with -benchtime=50x or more):
//
//	go test -run '^$' -bench ReloadWriteToServing -benchtime 50x ./host
func BenchmarkReloadWriteToServing(b *testing.B) {
	dir := b.TempDir()
	config := filepath.Join(dir, "components.hcl")
	e2e.Write(b, dir, e2e.Files{
		"components.hcl": `
router {
  listen = "127.0.0.1:0"
}
component "adder" {
  source = "adder"
  register "com.myapp.add2" { handler = "Add2" }
}
`,
		"adder/adder.go": benchAdder(0),
	})
	h, c := startHost(b, dir)
	w, err := NewWatcher(hclog.NewNullLogger(), DefaultDebounce)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.Set(config, h.Sources())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.Triggers():
				_, _ = h.ReloadFile(ctx, config, nil)
			}
		}
	}()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		start := time.Now()
		write(b, filepath.Join(dir, "adder", "adder.go"), benchAdder(i))
		for {
			if n, _ := callInt(b, c, "com.myapp.add2", 1, 2); n == int64(3+i) {
				break
			}
			if time.Since(start) > 5*time.Second {
				b.Fatalf("reload %d not served after 5s", i)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}

func benchAdder(v int) string {
	return fmt.Sprintf(`package adder

import "fmt"

// Add2 is version %d.
func Add2(x, y int) int {
	_ = fmt.Sprint(x)
	return x + y + %d
}
`, v, v)
}
