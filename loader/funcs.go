package loader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// evalContext offers the functions that config files may call. Secrets come
// in through env() and file() so that they never need to sit in the file.
func evalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":      envFunc,
			"file":     fileFunc(dir),
			"trim":     stdlib.TrimSpaceFunc,
			"lower":    stdlib.LowerFunc,
			"upper":    stdlib.UpperFunc,
			"join":     stdlib.JoinFunc,
			"split":    stdlib.SplitFunc,
			"tonumber": toNumberFunc,
			"tostring": stdlib.MakeToFunc(cty.String),
			"tobool":   stdlib.MakeToFunc(cty.Bool),
		},
	}
}

// envFunc is env(NAME) or env(NAME, DEFAULT). An unset variable without a
// default is an error, so a missing secret fails the load instead of
// silently becoming "".
var envFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam: &function.Parameter{Name: "default", Type: cty.String},
	Type:     function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		switch len(args) {
		case 1:
			return cty.NilVal, fmt.Errorf("environment variable %s is not set (give a default: env(%q, \"...\"))", name, name)
		case 2:
			return args[1], nil
		}
		return cty.NilVal, fmt.Errorf("env takes a name and at most one default")
	},
})

// fileFunc reads a file relative to the config's directory, without its
// trailing newline (secret files usually end with one).
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := readSmallFile(p)
			var pe *fs.PathError
			if errors.As(err, &pe) {
				// The PathError would name the path a second time.
				err = pe.Err
			}
			if err != nil {
				return cty.NilVal, fmt.Errorf("cannot read %s: %w (relative paths start at the config file's directory)", p, err)
			}
			return cty.StringVal(strings.TrimRight(string(b), "\r\n")), nil
		},
	})
}

// maxFileSize bounds what file() reads: it is for secrets and small
// snippets, and file("/dev/zero") must fail rather than fill memory.
const maxFileSize = 1 << 20

func readSmallFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(b) > maxFileSize {
		err = fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return b, err
}
