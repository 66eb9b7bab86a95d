package interp

import (
	"fmt"
	"go/ast"
	"go/token"
	"strconv"
	"strings"

	"github.com/wamphost/wamphost/internal/diag"
)

// checkFile reports, before yaegi sees the code, what yaegi v0.16.1 would
// either reject with an unclear message or run differently from Go:
// constructs newer than Go 1.21, bare go statements (a panic there kills the
// daemon, and the goroutine pins a dropped interpreter), and imports outside
// the allow-list.
func checkFile(fset *token.FileSet, f *ast.File, allowed map[string]bool, pkgFuncs map[string]bool) diag.Diagnostics {
	var ds diag.Diagnostics
	report := func(sev diag.Severity, n ast.Node, summary, detail string) {
		p := fset.Position(n.Pos())
		e := fset.Position(n.End())
		ds = append(ds, diag.Diagnostic{Severity: sev, Pos: diag.Pos{File: p.Filename, Line: p.Line, Column: p.Column},
			End: diag.Pos{File: e.Filename, Line: e.Line, Column: e.Column}, Summary: summary, Detail: detail})
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if ok, why := importRule(path, allowed); !ok {
			report(diag.Error, imp, "import not allowed", why)
		}
	}
	// Builtins that a package-level declaration shadows are the script's own.
	builtinShadowed := func(name string) bool { return pkgFuncs[name] }
	imported := importNames(f)

	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			report(diag.Error, n, "go statement not allowed",
				"start goroutines with s.Go(func(ctx context.Context) { ... }) on the component's wamp.Session: the host then stops them with the component and recovers their panics, which would otherwise crash the daemon")
		case *ast.RangeStmt:
			if kind := rangeOverNewKind(n.X, pkgFuncs); kind != "" {
				report(diag.Error, n.X, "range over "+kind+" is not supported",
					"the interpreter follows Go 1.21: write for i := 0; i < n; i++ { ... } instead")
			}
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok || id.Obj != nil || pkgFuncs[id.Name] {
				break
			}
			path, isImport := imported[id.Name]
			switch {
			case !isImport && universe[id.Name]:
			case !isImport:
				// yaegi v0.16.1 crashes on a selector of an unknown name
				// instead of reporting it.
				detail := "no import or declaration named " + id.Name
				if p, ok := stdPackageNamed[id.Name]; ok {
					detail += fmt.Sprintf("; add import %q", p)
				}
				report(diag.Error, id, "undefined: "+id.Name, detail)
			case (path == "time" || path == "context") && n.Sel.Name == "AfterFunc":
				report(diag.Error, n, path+".AfterFunc not allowed",
					"it runs the function on a goroutine the host does not own, where a panic would crash the daemon; use s.Go with a time.Timer, or select on ctx.Done()")
			}
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Obj == nil && !builtinShadowed(id.Name) {
				switch id.Name {
				case "min", "max":
					report(diag.Error, n, "builtin "+id.Name+" is not supported",
						fmt.Sprintf("the interpreter follows Go 1.21; compare with if, or declare func %s in the script", id.Name))
				case "clear":
					report(diag.Error, n, "builtin clear is not supported",
						"the interpreter follows Go 1.21; delete map keys in a loop, or assign a new map or slice")
				}
			}
		}
		return true
	})
	// Loop variables are shared across iterations under Go 1.21 rules, so a
	// closure that captures one sees its last value.
	ast.Inspect(f, func(n ast.Node) bool {
		vars := loopVarsOf(n)
		if vars == nil {
			return true
		}
		body := loopBody(n)
		ast.Inspect(body, func(m ast.Node) bool {
			lit, ok := m.(*ast.FuncLit)
			if !ok {
				return true
			}
			ast.Inspect(lit.Body, func(k ast.Node) bool {
				if id, ok := k.(*ast.Ident); ok && vars[id.Name] && id.Obj != nil && isLoopDecl(id.Obj, n) {
					report(diag.Warning, id, "closure captures loop variable "+id.Name,
						"the interpreter keeps pre-Go-1.22 loop semantics: every iteration shares one "+id.Name+"; copy it first ("+id.Name+" := "+id.Name+")")
					vars[id.Name] = false // once per variable is enough
				}
				return true
			})
			return false
		})
		return true
	})
	for _, id := range unusedLocals(f) {
		report(diag.Error, id, "declared and not used: "+id.Name,
			"go build refuses this too (the interpreter would not): use "+id.Name+", or drop it")
	}
	return ds
}

// unusedLocals lists the variables declared in function bodies (by :=, var
// or a range clause) that nothing else in the file names: Go refuses to
// build those, yaegi runs them, and a script should build with Go. Only
// variables never named again count; one that is assigned but never read,
// which Go refuses as well, is not found here.
func unusedLocals(f *ast.File) []*ast.Ident {
	declared := map[*ast.Object]*ast.Ident{}
	var order []*ast.Object
	declare := func(e ast.Expr, decl any) {
		id, ok := e.(*ast.Ident)
		if !ok || id.Name == "_" || id.Obj == nil || id.Obj.Decl != decl {
			return // not a new variable (a redeclaration names an older one)
		}
		if _, seen := declared[id.Obj]; !seen {
			declared[id.Obj] = id
			order = append(order, id.Obj)
		}
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				if n.Tok == token.DEFINE {
					for _, l := range n.Lhs {
						declare(l, n)
					}
				}
			case *ast.RangeStmt:
				if n.Tok == token.DEFINE {
					// The parser records a range clause's variables as
					// declared by an assignment of the range expression.
					for _, e := range []ast.Expr{n.Key, n.Value} {
						if id, ok := e.(*ast.Ident); ok && id.Obj != nil {
							declare(id, id.Obj.Decl)
						}
					}
				}
			case *ast.ValueSpec:
				for _, name := range n.Names {
					declare(name, n)
				}
			}
			return true
		})
	}
	if len(declared) == 0 {
		return nil
	}
	used := map[*ast.Object]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Obj != nil && declared[id.Obj] != id {
			used[id.Obj] = true
		}
		return true
	})
	var out []*ast.Ident
	for _, obj := range order {
		if !used[obj] {
			out = append(out, declared[obj])
		}
	}
	return out
}

// rangeOverNewKind names what a range expression ranges over when that is
// newer than Go 1.21 and visible without type information.
func rangeOverNewKind(x ast.Expr, pkgFuncs map[string]bool) string {
	switch x := x.(type) {
	case *ast.BasicLit:
		if x.Kind == token.INT {
			return "an integer"
		}
	case *ast.FuncLit:
		return "a function"
	case *ast.Ident:
		if pkgFuncs[x.Name] {
			return "a function"
		}
		if x.Obj == nil {
			break
		}
		switch d := x.Obj.Decl.(type) {
		case *ast.AssignStmt:
			if len(d.Rhs) == len(d.Lhs) {
				for i, l := range d.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == x.Name {
						return rangeOverNewKind(d.Rhs[i], pkgFuncs)
					}
				}
			}
		case *ast.Field: // a parameter: its declared type says it all
			return newKindOfType(d.Type)
		case *ast.ValueSpec:
			if d.Type != nil {
				return newKindOfType(d.Type)
			}
			if len(d.Values) == len(d.Names) {
				for i, n := range d.Names {
					if n.Name == x.Name {
						return rangeOverNewKind(d.Values[i], pkgFuncs)
					}
				}
			}
		}
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Obj == nil && id.Name == "len" {
			return "an integer"
		}
	case *ast.BinaryExpr:
		if kind := rangeOverNewKind(x.X, pkgFuncs); kind == "an integer" {
			return kind
		}
		return rangeOverNewKind(x.Y, pkgFuncs)
	case *ast.ParenExpr:
		return rangeOverNewKind(x.X, pkgFuncs)
	}
	return ""
}

// newKindOfType names a declared type that Go 1.21 cannot range over.
func newKindOfType(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.FuncType:
		return "a function"
	case *ast.Ident:
		switch t.Name {
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte", "rune":
			if t.Obj == nil { // not shadowed by a script type
				return "an integer"
			}
		}
	}
	return ""
}

func loopVarsOf(n ast.Node) map[string]bool {
	vars := map[string]bool{}
	switch n := n.(type) {
	case *ast.RangeStmt:
		if n.Tok != token.DEFINE {
			return nil
		}
		for _, e := range []ast.Expr{n.Key, n.Value} {
			if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
				vars[id.Name] = true
			}
		}
	case *ast.ForStmt:
		as, ok := n.Init.(*ast.AssignStmt)
		if !ok || as.Tok != token.DEFINE {
			return nil
		}
		for _, l := range as.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
				vars[id.Name] = true
			}
		}
	default:
		return nil
	}
	if len(vars) == 0 {
		return nil
	}
	return vars
}

func loopBody(n ast.Node) *ast.BlockStmt {
	switch n := n.(type) {
	case *ast.RangeStmt:
		return n.Body
	case *ast.ForStmt:
		return n.Body
	}
	return nil
}

// isLoopDecl reports whether obj is declared by the loop header n itself.
func isLoopDecl(obj *ast.Object, n ast.Node) bool {
	switch n := n.(type) {
	case *ast.RangeStmt:
		return obj.Decl == n || obj.Pos() >= n.Pos() && obj.Pos() < n.Body.Pos() || isAssignIn(obj, n.Pos(), n.Body.Pos())
	case *ast.ForStmt:
		return isAssignIn(obj, n.Pos(), n.Body.Pos())
	}
	return false
}

func isAssignIn(obj *ast.Object, from, to token.Pos) bool {
	if as, ok := obj.Decl.(*ast.AssignStmt); ok {
		return as.Pos() >= from && as.Pos() < to
	}
	return false
}

// importNames maps the names a file's imports bind to their paths.
func importNames(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := path[strings.LastIndex(path, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		out[name] = path
	}
	return out
}

// universe holds the predeclared names a selector may start from (a
// method value on a conversion, say, is written differently, so types and
// constants are enough).
var universe = map[string]bool{
	"bool": true, "byte": true, "complex64": true, "complex128": true, "error": true, "float32": true,
	"float64": true, "int": true, "int8": true, "int16": true, "int32": true, "int64": true, "rune": true,
	"string": true, "uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true, "uintptr": true,
	"any": true, "true": true, "false": true, "nil": true, "iota": true,
}

// stdPackageNamed suggests an import for a name used as a package.
var stdPackageNamed = func() map[string]string {
	out := map[string]string{"wamp": APIPath}
	for _, p := range DefaultImports {
		name := p[strings.LastIndex(p, "/")+1:]
		if _, taken := out[name]; !taken {
			out[name] = p
		}
	}
	return out
}()
