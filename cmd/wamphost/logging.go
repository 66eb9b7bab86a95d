package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// toJournal reports whether w is the stderr that systemd connected to the
// journal: $JOURNAL_STREAM holds that stream's "device:inode", so output
// redirected elsewhere by the unit (or a shell) still gets timestamps.
func toJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	dev, ino, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	wantDev, err1 := strconv.ParseUint(dev, 10, 64)
	wantIno, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == wantDev && uint64(st.Ino) == wantIno
}

// parseLevel accepts the levels the config and -log-level document.
func parseLevel(s string) (hclog.Level, error) {
	switch s {
	case "trace", "debug", "info", "warn", "error":
		return hclog.LevelFromString(s), nil
	}
	return hclog.NoLevel, fmt.Errorf("unknown log level %q (use trace, debug, info, warn or error)", s)
}

// configLevel is the level a config asks for: its daemon log_level, or
// info. The -log-level flag, when given, wins over both.
func (cf *commonFlags) configLevel(fromConfig string) hclog.Level {
	if cf.levelGiven || fromConfig == "" {
		return cf.level
	}
	l, err := parseLevel(fromConfig)
	if err != nil {
		return cf.level // the loader refuses such a config; keep what runs
	}
	return l
}
