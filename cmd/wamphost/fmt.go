package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/wamphost/wamphost/internal/diag"
)

func cmdFmt(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("fmt", flag.ContinueOnError)
	fset.SetOutput(stderr)
	check := fset.Bool("check", false, "print nothing but the names of files that are not formatted, and exit 1 if there are any")
	diff := fset.Bool("diff", false, "print a unified diff of the changes instead of the formatted file")
	write := fset.Bool("write", false, "rewrite files in place and print the names of the ones that changed")
	fset.Usage = func() {
		fmt.Fprint(stderr, `Usage: wamphost fmt [flags] [FILE|DIR ...]

Rewrite HCL config files in the canonical style (aligned '=', two-space
indents), as hclwrite does. With no argument it formats ./components.hcl; a
directory means the .hcl files in it. Files in HCL's JSON syntax are not
touched.

Without flags the formatted file is printed to stdout. Exits 1 if a file
has a syntax error (printed as file:line:col), or with -check when a file
is not formatted; 2 on a usage error.

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
	if *write && *check {
		fmt.Fprintln(stderr, "wamphost fmt: -write and -check exclude each other")
		return exitUsage
	}
	paths := fset.Args()
	if len(paths) == 0 {
		paths = []string{"components.hcl"}
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fmt.Fprintln(stderr, "wamphost fmt:", err)
			return exitProblem
		}
		if !st.IsDir() {
			if strings.HasSuffix(p, ".json") {
				fmt.Fprintf(stderr, "wamphost fmt: %s: HCL's JSON syntax is not formatted\n", p)
				return exitProblem
			}
			files = append(files, p)
			continue
		}
		found, _ := filepath.Glob(filepath.Join(p, "*.hcl"))
		sort.Strings(found)
		files = append(files, found...)
	}

	code := exitOK
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, "wamphost fmt:", err)
			code = exitProblem
			continue
		}
		// hclwrite formats whatever it is given; a file that does not
		// parse must be refused, not mangled.
		if _, hds := hclsyntax.ParseConfig(src, file, hcl.InitialPos); hds.HasErrors() {
			diag.Write(stderr, fromHCL(hds))
			code = exitProblem
			continue
		}
		out := hclwrite.Format(src)
		changed := !bytes.Equal(src, out)
		switch {
		case *check:
			if changed {
				fmt.Fprintln(stdout, file)
				if *diff {
					unifiedDiff(stdout, file, string(src), string(out))
				}
				code = exitProblem
			}
		case *write:
			if changed {
				if *diff {
					unifiedDiff(stdout, file, string(src), string(out))
				}
				if err := writeInPlace(file, out); err != nil {
					fmt.Fprintln(stderr, "wamphost fmt:", err)
					code = exitProblem
					continue
				}
				if !*diff {
					fmt.Fprintln(stdout, file)
				}
			}
		case *diff:
			if changed {
				unifiedDiff(stdout, file, string(src), string(out))
			}
		default:
			_, _ = stdout.Write(out)
		}
	}
	return code
}

// writeInPlace replaces file's contents through a rename, so that a crash
// (or the daemon's file watcher) never sees half a file.
func writeInPlace(file string, content []byte) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".fmt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func fromHCL(hds hcl.Diagnostics) diag.Diagnostics {
	var out diag.Diagnostics
	for _, d := range hds {
		dd := diag.Diagnostic{Severity: diag.Error, Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			dd.Severity = diag.Warning
		}
		if r := d.Subject; r != nil {
			dd.Pos = diag.Pos{File: r.Filename, Line: r.Start.Line, Column: r.Start.Column}
			dd.End = diag.Pos{File: r.Filename, Line: r.End.Line, Column: r.End.Column}
		}
		out = append(out, dd)
	}
	return out
}

// unifiedDiff prints a diff -u style diff of two texts with three lines of
// context. Config files are small, so a quadratic LCS is fine.
func unifiedDiff(w io.Writer, name, a, b string) {
	x, y := splitLines(a), splitLines(b)
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		text string
		ai   int // line index in a (for ' ' and '-')
		bi   int // line index in b (for ' ' and '+')
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, op{' ', x[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', x[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', y[j], i, j})
			j++
		}
	}
	fmt.Fprintf(w, "--- %s\n+++ %s (formatted)\n", name, name)
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		// Extend the hunk while changes are within 2*ctx lines of each other.
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*ctx {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		var aLen, bLen int
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				aLen++
			}
			if o.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(w, "@@ -%d,%d +%d,%d @@\n", ops[start].ai+1, aLen, ops[start].bi+1, bLen)
		for _, o := range ops[start:end] {
			fmt.Fprintf(w, "%c%s\n", o.kind, o.text)
		}
		k = end
	}
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
