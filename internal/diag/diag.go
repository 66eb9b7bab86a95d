// Package diag holds the one error shape that config and script problems
// share: a message with a source position, printed as file:line:col followed
// by the offending line and a caret, so that an editor or terminal can jump
// straight to it.
package diag

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Severity says whether a diagnostic stops a load.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText makes a Severity read as "error" or "warning" in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a position in a source file. Line and Column start at 1; zero means
// unknown. Column counts bytes, as go/token does, so that script positions
// pass through unchanged; producers that count characters convert.
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Pos) String() string {
	file := display(p.File)
	switch {
	case file == "":
		return ""
	case p.Line == 0:
		return file
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", file, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
}

// display shortens an absolute path below the working directory to a
// relative one, as compilers print them; anything else stays as it is.
func display(file string) string {
	if !filepath.IsAbs(file) {
		return file
	}
	wd, err := os.Getwd()
	if err != nil {
		return file
	}
	if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

// Diagnostic is one problem found in a config file or a script.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Pos      Pos      `json:"pos"`
	// End is where the offending range ends, when known.
	End     Pos    `json:"end"`
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
	// Source is the offending line, filled in by Write when the file can be
	// read (or by the producer when it has the text at hand).
	Source string `json:"source,omitempty"`
}

// Diagnostics is a list of problems; it is an error when it holds any error.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Err returns ds as an error when it holds errors, and nil otherwise.
func (ds Diagnostics) Err() error {
	if ds.HasErrors() {
		return ds
	}
	return nil
}

// Error renders every diagnostic on one line each, without source snippets.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.oneLine())
	}
	return b.String()
}

func (d Diagnostic) oneLine() string {
	s := d.Severity.String() + ": " + d.Summary
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	if p := d.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// Write prints each diagnostic as
//
//	file:line:col: error: summary: detail
//	   12 |   handler = "add2"
//	      |             ^^^^^^
//
// reading the offending line from disk when the diagnostic does not carry it.
func Write(w io.Writer, ds Diagnostics) {
	for _, d := range ds {
		fmt.Fprintln(w, d.oneLine())
		src := d.Source
		if src == "" && d.Pos.Line > 0 {
			src = sourceLine(d.Pos.File, d.Pos.Line)
		}
		if src == "" {
			continue
		}
		gutter := fmt.Sprintf("%5d | ", d.Pos.Line)
		fmt.Fprintf(w, "%s%s\n", gutter, strings.TrimRight(src, "\r\n"))
		if d.Pos.Column > 0 {
			fmt.Fprintf(w, "%s| %s\n", strings.Repeat(" ", len(gutter)-2), caret(src, d.Pos, d.End))
		}
	}
}

// WriteJSON prints the diagnostics as a JSON array, for editors and CI.
func WriteJSON(w io.Writer, ds Diagnostics) error {
	if ds == nil {
		ds = Diagnostics{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ds)
}

// caret draws the marker line under src: one '^' per character from pos to
// end (one when the range spans lines or is empty). Columns are bytes; the
// padding counts characters and keeps tabs, so the marker lines up under
// multi-byte text and tab-indented lines alike.
func caret(src string, pos, end Pos) string {
	from := min(pos.Column-1, len(src))
	to := from
	if end.Line == pos.Line && end.Column > pos.Column {
		to = min(end.Column-1, len(src))
	}
	var b strings.Builder
	for _, r := range src[:from] {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString(strings.Repeat("^", max(1, utf8.RuneCountInString(src[from:to]))))
	return b.String()
}

func sourceLine(file string, line int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if n == line {
			return sc.Text()
		}
	}
	return ""
}
