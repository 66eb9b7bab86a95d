package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("reload", flag.ContinueOnError)
	fset.SetOutput(stderr)
	addr := fset.String("addr", "127.0.0.1:9180", "`host:port` of the daemon's metrics_listen")
	timeout := fset.Duration("timeout", 2*time.Minute, "how long to wait for the reload to finish")
	fset.Usage = func() {
		fmt.Fprint(stderr, `Usage: wamphost reload [flags]

Ask a running daemon to reload its config file and scripts, exactly as
SIGHUP does, and wait for the outcome: what changed, or why nothing did
(every problem as file:line:col). Exits 0 when the reload applied and 1 when
it failed (the previous version keeps serving) or the daemon could not be
reached. It talks to the daemon's observability listener, so the config
must set daemon { metrics_listen = "..." }. Use it as ExecReload= so that
'systemctl reload' reports a failed reload.

Flags:
`)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fset.Args(), " "))
		fset.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+*addr+"/-/reload", nil)
	if err != nil {
		fmt.Fprintln(stderr, "wamphost reload:", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "wamphost reload: %v\n(is the daemon running, with daemon { metrics_listen = %q }?)\n", err, *addr)
		return exitProblem
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusOK:
		_, _ = stdout.Write(body)
		return exitOK
	case http.StatusUnprocessableEntity:
		_, _ = stderr.Write(body)
		return exitProblem
	}
	fmt.Fprintf(stderr, "wamphost reload: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
	return exitProblem
}
