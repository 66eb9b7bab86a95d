package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/bench/work"
	"github.com/wamphost/wamphost/host"
	"github.com/wamphost/wamphost/loader"
)

// The bench binary re-executes itself in these roles, so that every server
// runs in its own process, apart from the load generator.

// roleInproc is baseline (b): wamphost's own embedded router and WebSocket
// listener (host.Host with no components), with add2, the transform and
// optionally n event subscribers as compiled Go handlers on in-process
// sessions, attached exactly as wamphost attaches a component.
func roleInproc(args []string) error {
	fs := flag.NewFlagSet("inproc", flag.ExitOnError)
	subs := fs.Int("subs", 0, "compiled subscribers to bench.ev")
	config := fs.String("config", "", "also run the components of this config (for profiling wamphost in process)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run to `file` on exit")
	_ = fs.Parse(args)
	// The same defaults as a components.hcl with no component in it.
	cfg, ds := loader.Parse("inproc.hcl", []byte("router {\n  listen = \"127.0.0.1:0\"\n}\ndaemon {\n  shutdown_grace = \"1s\"\n}\n"))
	if ds.HasErrors() {
		return ds
	}
	if *config != "" {
		c, ds := loader.Load(*config)
		if ds.HasErrors() {
			return ds
		}
		cfg = c
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		defer writeAllocs(*memprofile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := host.New(cfg, host.Options{Logger: hclog.NewNullLogger()})
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer h.Shutdown(context.Background())
	callee, err := localClient(h)
	if err != nil {
		return err
	}
	if err := callee.Register(procAdd2Compiled, compiledAdd2, nil); err != nil {
		return err
	}
	if *config == "" {
		if err := callee.Register(procAdd2, compiledAdd2, nil); err != nil {
			return err
		}
	}
	if err := callee.Register(procTransform, func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		doc, ok := argAt(inv.Arguments, 0).(map[string]any)
		if !ok {
			return client.InvokeResult{Err: "wamp.error.invalid_argument"}
		}
		return client.InvokeResult{Args: nxwamp.List{work.Transform(doc)}}
	}, nil); err != nil {
		return err
	}
	for i := 0; i < *subs; i++ {
		cl, err := localClient(h)
		if err != nil {
			return err
		}
		if err := cl.Subscribe(topicEvent, func(ev *nxwamp.Event) {
			_ = cl.Publish(topicAck, nil, nxwamp.List{argAt(ev.Arguments, 0)}, nil)
		}, nil); err != nil {
			return err
		}
	}
	fmt.Printf("ready url=%s\n", h.URLs()[0])
	<-ctx.Done()
	return nil
}

// writeAllocs writes what the run allocated, by call site.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "memprofile:", err)
	}
}

func localClient(h *host.Host) (*client.Client, error) {
	local, routerSide := transport.LinkedPeersQSize(1024)
	go func() { _ = h.Router().Attach(routerSide) }()
	return client.NewClient(local, client.Config{Realm: loader.DefaultRealm})
}

// roleCallee is baseline (c)'s callee: compiled add2 in its own process,
// over WebSocket to a standalone router.
func roleCallee(args []string) error {
	fs := flag.NewFlagSet("callee", flag.ExitOnError)
	url := fs.String("url", "", "router URL")
	ser := fs.String("ser", "json", "json or msgpack")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := connect(ctx, *url, *ser)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.Register(procAdd2, compiledAdd2, nil); err != nil {
		return err
	}
	fmt.Println("ready")
	select {
	case <-ctx.Done():
	case <-cl.Done():
	}
	return nil
}

func compiledAdd2(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
	x, ok1 := nxwamp.AsInt64(argAt(inv.Arguments, 0))
	y, ok2 := nxwamp.AsInt64(argAt(inv.Arguments, 1))
	if !ok1 || !ok2 {
		return client.InvokeResult{Err: "wamp.error.invalid_argument"}
	}
	return client.InvokeResult{Args: nxwamp.List{x + y}}
}

func argAt(l nxwamp.List, i int) any {
	if i < len(l) {
		return l[i]
	}
	return nil
}

func connect(ctx context.Context, url, ser string) (*client.Client, error) {
	cfg := client.Config{Realm: loader.DefaultRealm, ResponseTimeout: 10 * time.Second}
	switch ser {
	case "json":
		cfg.Serialization = serialize.JSON
	case "msgpack":
		cfg.Serialization = serialize.MSGPACK
	default:
		return nil, fmt.Errorf("unknown serialization %q", ser)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return client.ConnectNet(cctx, url, cfg)
}

// roleLoad drives one RPC cell against url and prints its figures: for
// profiling a server on its own.
func roleLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "router URL")
	ser := fs.String("ser", "json", "json or msgpack")
	proc := fs.String("proc", procAdd2, "procedure to call: add2 with (2, 3), checked; any other without arguments")
	callers := fs.Int("callers", 1, "concurrent callers")
	d := fs.Duration("duration", 5*time.Second, "measured time")
	subs := fs.Int("fanout", 0, "publish to bench.ev for this many subscribers instead of calling")
	_ = fs.Parse(args)
	if *subs > 0 {
		smp, err := fanoutLoad(*url, *ser, *subs, *callers, time.Second, *d)
		if err != nil {
			return err
		}
		m := summarize(smp.lat, smp.d)
		fmt.Printf("%.0f deliveries/s p50 %s p99 %s lost %d\n", m.Rate, m.P50, m.P99, smp.lost)
		return nil
	}
	callArgs, check := nxwamp.List{2, 3}, add2Ok
	if *proc != procAdd2 && *proc != procAdd2Compiled {
		// Any other procedure (wamp.session.count, say, which the router
		// answers itself: the floor under any callee) is called without
		// arguments and just has to answer.
		callArgs, check = nil, func(nxwamp.List) bool { return true }
	}
	smp, err := rpcLoad(*url, *ser, *proc, callArgs, check, *callers, time.Second, *d)
	if err != nil {
		return err
	}
	m := summarize(smp.lat, smp.d)
	fmt.Printf("%.0f calls/s p50 %s p99 %s\n", m.Rate, m.P50, m.P99)
	return nil
}
