package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/host"
	"github.com/wamphost/wamphost/internal/diag"
	"github.com/wamphost/wamphost/internal/notify"
)

// daemon is what `wamphost run` keeps between its main loop's turns: the
// host, the service manager's socket, and reload requests that arrive over
// HTTP, which the main loop runs one at a time with SIGHUP and file saves.
type daemon struct {
	h      *host.Host
	cf     *commonFlags
	log    hclog.Logger
	sd     *notify.Notifier
	stderr io.Writer // where reload diagnostics go; nil with -log-json

	requests chan reloadRequest
}

type reloadRequest struct{ reply chan reloadReply }

type reloadReply struct {
	text string
	err  error
}

// status is the one line `systemctl status` shows while serving.
func (d *daemon) status() string {
	cfg := d.h.Config()
	a := d.h.Addr() // the port actually bound, when the config says 0
	if a == nil {
		return fmt.Sprintf("serving %d component(s) on external routers; embedded router not running", len(cfg.Components))
	}
	return fmt.Sprintf("serving %d component(s) on %s", len(cfg.Components), a)
}

// reload applies the config file again, telling systemd around it, and
// applies the new config's log level. The text is for `wamphost reload`.
func (d *daemon) reload(ctx context.Context) (string, error) {
	_ = d.sd.Reloading("reloading " + d.cf.config)
	rep, err := d.h.ReloadFile(ctx, d.cf.config, d.stderr)
	var text bytes.Buffer
	if err != nil {
		fmt.Fprintf(&text, "reload failed; the previous version keeps serving (took %s)\n", rep.Duration.Round(time.Microsecond))
		var ds diag.Diagnostics
		if errors.As(err, &ds) {
			diag.Write(&text, ds)
		} else {
			fmt.Fprintln(&text, err)
		}
		_ = d.sd.Ready(d.status() + "; last reload FAILED: " + firstLine(err.Error()))
		return text.String(), err
	}
	if from, to := d.log.GetLevel(), d.cf.configLevel(d.h.Config().LogLevel); from != to {
		d.log.SetLevel(to)
		d.log.Info("log level changed", "from", from, "to", to)
	}
	fmt.Fprintf(&text, "reloaded: %s (took %s)\n", rep.String(), rep.Duration.Round(time.Microsecond))
	diag.Write(&text, rep.Diagnostics)
	_ = d.sd.Ready(d.status())
	return text.String(), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// observe serves /metrics, /healthz, /readyz and /-/reload on addr ("" for
// none) until serveCtx ends. Reloads asked for over HTTP are refused once
// ctx ends (the daemon is stopping).
func (d *daemon) observe(ctx, serveCtx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	reload := func(rctx context.Context) (string, error) {
		req := reloadRequest{reply: make(chan reloadReply, 1)}
		select {
		case d.requests <- req:
		case <-ctx.Done():
			return "wamphost is stopping\n", errors.New("stopping")
		case <-rctx.Done():
			return "", rctx.Err()
		}
		r := <-req.reply
		return r.text, r.err
	}
	bound, _, err := d.h.ServeObservability(serveCtx, addr, reload)
	if err != nil {
		return err
	}
	d.log.Info("metrics listening", "url", "http://"+bound.String()+"/metrics")
	return nil
}

// watchdog pets systemd's watchdog at half of WatchdogSec= until ctx ends.
func (d *daemon) watchdog(ctx context.Context) {
	interval, on, err := notify.WatchdogInterval()
	if err != nil {
		d.log.Warn("watchdog disabled", "error", err)
		return
	}
	if !on || !d.sd.Enabled() {
		return
	}
	d.log.Debug("watchdog on", "interval", interval)
	_ = d.sd.Watchdog(ctx, interval, nil)
}
