package host

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// Watcher turns saves of the config file and of component scripts into
// debounced reload triggers. It watches directories, not files, because
// editors save by writing a temporary file and renaming it over the old one
// (and vim probes with a file named 4913), which a watch on the file itself
// loses after the first save. Whether a trigger really changed anything is
// for Reload to decide, by content hash.
type Watcher struct {
	fs       *fsnotify.Watcher
	log      hclog.Logger
	debounce time.Duration
	out      chan struct{}

	mu      sync.Mutex
	dirs    map[string]bool
	config  string
	sources map[string]bool // source dirs and single-file sources
	targets map[string]bool // what scripts that are symbolic links point to
	done    chan struct{}
}

// DefaultDebounce gathers the burst of events one save makes.
const DefaultDebounce = 25 * time.Millisecond

// NewWatcher starts watching; call Set to say what.
func NewWatcher(log hclog.Logger, debounce time.Duration) (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fs: fw, log: log, debounce: debounce, out: make(chan struct{}, 1), dirs: map[string]bool{}, sources: map[string]bool{}, done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// Triggers delivers one value per debounced burst of relevant events.
func (w *Watcher) Triggers() <-chan struct{} { return w.out }

// Close stops watching.
func (w *Watcher) Close() error {
	err := w.fs.Close()
	<-w.done
	return err
}

// Set watches the config file and the given sources (script directories
// or single .go files), and each one's parent directory, so that a source
// directory that appears or disappears later is noticed too.
func (w *Watcher) Set(configFile string, sources []string) {
	want := map[string]bool{}
	cfg, _ := filepath.Abs(configFile)
	want[filepath.Dir(cfg)] = true
	srcs := map[string]bool{}
	targets := map[string]bool{}
	for _, s := range sources {
		s, _ = filepath.Abs(s)
		srcs[s] = true
		if strings.HasSuffix(s, ".go") {
			want[filepath.Dir(s)] = true
			linkTargets(targets, s)
			continue
		}
		want[s] = true
		want[filepath.Dir(s)] = true
		if entries, err := os.ReadDir(s); err == nil {
			for _, e := range entries {
				if e.Type()&os.ModeSymlink != 0 && isScriptName(e.Name()) {
					linkTargets(targets, filepath.Join(s, e.Name()))
				}
			}
		}
	}
	// A script that is a link changes where its target lives.
	targetDirs := map[string]bool{}
	for t := range targets {
		want[filepath.Dir(t)] = true
		targetDirs[filepath.Dir(t)] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	first := w.config == ""
	w.config, w.sources, w.targets = cfg, srcs, targets
	added := false
	for d := range w.dirs {
		if !want[d] {
			_ = w.fs.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range want {
		if w.dirs[d] {
			continue
		}
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue // not there yet: its parent's watch will see it appear
		}
		if err := w.fs.Add(d); err != nil {
			w.log.Warn("cannot watch directory", "dir", d, "error", err)
			continue
		}
		w.dirs[d] = true
		added = added || srcs[d] || targetDirs[d]
	}
	if added && !first {
		// Files may have landed in a new source directory (or a link's
		// target changed) before it was watched; a reload finds them (and
		// does nothing if nothing changed).
		w.kick()
	}
}

func (w *Watcher) kick() {
	select {
	case w.out <- struct{}{}:
	default:
	}
}

func (w *Watcher) loop() {
	defer close(w.done)
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if !w.relevant(ev) {
				continue
			}
			w.log.Trace("file event", "op", ev.Op.String(), "path", ev.Name)
			if timer == nil {
				timer = time.NewTimer(w.debounce)
			} else {
				timer.Reset(w.debounce)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			w.kick()
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watching error", "error", err)
		}
	}
}

// relevant filters out what no reload depends on: editors' swap, backup
// and probe files, tests, and permission-only changes.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	path, _ := filepath.Abs(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if path == w.config || w.sources[path] || w.targets[path] {
		return true
	}
	if ev.Has(fsnotify.Create) && w.dirs[filepath.Dir(path)] {
		// A directory made next to the config or a source may be a source
		// the config names but could not load yet.
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return true
		}
	}
	base := filepath.Base(path)
	if editorJunk(base) {
		return false
	}
	if w.sources[filepath.Dir(path)] {
		return isScriptName(base)
	}
	return false
}

// linkTargets adds to targets what the script at path points to, if it is
// a symbolic link (each link of a chain: saving through any of them
// changes the script).
func linkTargets(targets map[string]bool, path string) {
	for i := 0; i < 8; i++ {
		dest, err := os.Readlink(path)
		if err != nil {
			return
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		targets[dest] = true
		path = dest
	}
}

func editorJunk(base string) bool {
	return base == "4913" || strings.HasPrefix(base, ".#") || strings.HasPrefix(base, "#") ||
		strings.HasSuffix(base, "~") || strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") ||
		strings.HasSuffix(base, ".tmp")
}
