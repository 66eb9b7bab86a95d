package interp

import (
	"encoding/base32"
	"encoding/base64"
	"hash/crc32"
	"reflect"
	"strings"
	"unicode"

	"github.com/traefik/yaegi/stdlib"

	"github.com/wamphost/wamphost/interp/internal/symbols"
)

// APIPath is the import path of the script API package.
const APIPath = "github.com/wamphost/wamphost/wamp"

// DefaultImports is the standard library that every script may import: pure
// computation, encoding, text and time. Nothing here reaches the file
// system, the network, other processes, or the host's memory.
var DefaultImports = []string{
	"bufio", "bytes", "container/heap", "container/list", "container/ring",
	"context", "crypto/hmac", "crypto/md5", "crypto/rand", "crypto/sha1",
	"crypto/sha256", "crypto/sha512", "crypto/subtle", "encoding/base32",
	"encoding/base64", "encoding/binary", "encoding/csv", "encoding/hex",
	"encoding/json", "encoding/xml", "errors", "fmt", "hash", "hash/adler32",
	"hash/crc32", "hash/crc64", "hash/fnv", "html", "io", "math", "math/big",
	"math/bits", "math/cmplx", "math/rand", "regexp", "sort", "strconv",
	"strings", "sync", "sync/atomic", "text/tabwriter", "text/template",
	"time", "unicode", "unicode/utf16", "unicode/utf8",
}

// neverImports cannot be allowed by any config: they would let a script
// reach past the interpreter into the host process itself.
var neverImports = map[string]string{
	"unsafe":  "it reads and writes the daemon's memory",
	"syscall": "it calls the kernel directly",
	"os/exec": "it starts processes; run them from a separate service instead",
	"plugin":  "it loads native code into the daemon",
}

// unsupportedImports exist in the standard library but the interpreter
// (yaegi v0.16.1) mishandles them; the hint says what to use instead.
var unsupportedImports = map[string]string{
	"slices": "yaegi v0.16.1 cannot run it reliably (slices.Sort is undefined); use sort.Slice",
	"maps":   "yaegi v0.16.1 cannot run it reliably (maps.Clone fails); copy with a for loop",
	"iter":   "yaegi v0.16.1 does not support range-over-func iterators",
	"unique": "it is newer than the interpreter's Go 1.21 standard library",
}

// importRule says whether path may be imported given a component's
// allow_imports, and if not, why.
func importRule(path string, allowed map[string]bool) (ok bool, why string) {
	switch {
	case path == APIPath:
		return true, ""
	case strings.HasPrefix(path, "github.com/traefik/yaegi"):
		return false, "the interpreter's own packages are never available to scripts (they can rewrite what other scripts import)"
	}
	if reason, never := neverImports[path]; never {
		return false, "package " + path + " is never available to scripts: " + reason
	}
	if reason, bad := unsupportedImports[path]; bad {
		return false, "package " + path + " is not available: " + reason
	}
	if _, known := stdlib.Symbols[symbolKey(path)]; !known {
		return false, "package " + path + " is not importable: scripts may import the standard library and " + APIPath + " only; put other code in a service of its own"
	}
	if allowed[path] {
		return true, ""
	}
	return false, "package " + path + " is not in the script allow-list; add allow_imports = [\"" + path + "\"] to the component block to allow it"
}

// allowedSet merges the defaults with a component's additions.
func allowedSet(extra []string) map[string]bool {
	set := make(map[string]bool, len(DefaultImports)+len(extra))
	for _, p := range DefaultImports {
		set[p] = true
	}
	for _, p := range extra {
		set[p] = true
	}
	return set
}

// exportsFor copies the symbols of the given packages (and the script API)
// for one interpreter. Copying matters: yaegi's tables are global and
// writable, so a shared map would let one script change what every later
// script imports.
func exportsFor(packages map[string]bool) map[string]map[string]reflect.Value {
	out := make(map[string]map[string]reflect.Value, len(packages)+1)
	for path := range packages {
		key := symbolKey(path)
		if syms, ok := stdlib.Symbols[key]; ok {
			out[key] = copySymbols(syms)
		}
	}
	for key, syms := range symbols.Symbols {
		out[key] = copySymbols(syms)
	}
	return out
}

func copySymbols(in map[string]reflect.Value) map[string]reflect.Value {
	out := make(map[string]reflect.Value, len(in))
	for k, v := range in {
		out[k] = isolate(v)
	}
	return out
}

// isolate gives one interpreter its own copy of a package variable. yaegi
// binds a script's io.EOF, &io.EOF and base64.StdEncoding straight to the
// host's variables, so without a copy `*(&io.EOF) = x` or
// `*base64.StdEncoding = *base64.URLEncoding` would change the daemon and
// every other component. Functions, constants and types are not
// addressable and pass through.
//
// Maps and slices are copied one level deep (regexp reads unicode.Categories
// at run time); pointers only to the plain-data types in copiedPointees.
// What lies deeper (the elements of unicode.Latin.R16, say) is still shared:
// scripts are trusted code, not isolated code.
func isolate(v reflect.Value) reflect.Value {
	if !v.CanAddr() || !v.CanInterface() {
		return v
	}
	c := reflect.New(v.Type()).Elem()
	switch {
	case v.Kind() == reflect.Map && !v.IsNil():
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), iter.Value())
		}
		c.Set(m)
	case v.Kind() == reflect.Slice && !v.IsNil():
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(s, v)
		c.Set(s)
	case v.Kind() == reflect.Pointer && !v.IsNil() && copiedPointees[v.Type().Elem()]:
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(v.Elem())
		c.Set(p)
	default:
		c.Set(v)
	}
	return c
}

// copiedPointees are the types behind pointer variables in DefaultImports
// that are plain data, safe to copy. Others, like *time.Location (whose
// identity time.Local's lazy set-up depends on), stay shared.
var copiedPointees = map[reflect.Type]bool{
	reflect.TypeOf(base64.Encoding{}):    true,
	reflect.TypeOf(base32.Encoding{}):    true,
	reflect.TypeOf(crc32.Table{}):        true,
	reflect.TypeOf(unicode.RangeTable{}): true,
}

// symbolKey is yaegi's key for an import path: "path/name".
func symbolKey(path string) string {
	return path + "/" + path[strings.LastIndex(path, "/")+1:]
}
