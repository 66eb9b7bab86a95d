package interp

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing/fstest"
)

// sourceSnapshot is the file system yaegi reads a script from: the very
// bytes Load parsed and checked, and nothing else. Reading the files again
// from disk would run whatever an editor saved in between, unchecked (a
// goroutine, say), and a failed reload of the checked version would then
// leave that serving.
type sourceSnapshot struct{ files fstest.MapFS }

func newSourceSnapshot() sourceSnapshot { return sourceSnapshot{files: fstest.MapFS{}} }

// add records the content of the file at path (an absolute path).
func (s sourceSnapshot) add(path string, content []byte) {
	s.files[snapshotKey(path)] = &fstest.MapFile{Data: content, Mode: 0o444}
}

// Open serves the recorded files and their directories under the names
// yaegi uses, which are operating-system paths (relative to the working
// directory, or absolute), not io/fs paths.
func (s sourceSnapshot) Open(name string) (fs.File, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := s.files.Open(snapshotKey(abs))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, nil
}

func snapshotKey(abs string) string {
	key := strings.TrimPrefix(filepath.ToSlash(abs), "/")
	if key == "" {
		return "."
	}
	return key
}
