package interp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"go/ast"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Values cross the boundary between WAMP and script code in two
// directions. Inbound, a decoded payload (nil, bool, integers, floats,
// strings, []byte, []any, map[string]any) is converted to a handler's
// parameter type. Outbound, whatever a handler returns is turned back into
// those plain values, because what yaegi hands the host is not the script's
// type: unexported fields arrive renamed ("label" becomes "Xlabel"), and
// methods such as MarshalJSON are not visible.

// maxDepth bounds recursion through nested or cyclic values.
const maxDepth = 64

var (
	timeType      = reflect.TypeOf(time.Time{})
	durationType  = reflect.TypeOf(time.Duration(0))
	marshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	errorType     = reflect.TypeOf((*error)(nil)).Elem()
)

// ConvertError says which part of a value did not fit which type.
type ConvertError struct {
	Path string // e.g. "[2].name"; empty for the value itself
	Want string
	Got  any
}

func (e *ConvertError) Error() string {
	got := describe(e.Got)
	if e.Path == "" {
		return fmt.Sprintf("want %s, got %s", e.Want, got)
	}
	return fmt.Sprintf("%s: want %s, got %s", e.Path, e.Want, got)
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("string %q", x)
	case bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprintf("%T %v", v, v)
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// FromWAMP converts a decoded WAMP value to type t.
func FromWAMP(v any, t reflect.Type) (reflect.Value, error) {
	return fromWAMP(v, t, "", 0)
}

func fromWAMP(v any, t reflect.Type, path string, depth int) (reflect.Value, error) {
	if depth > maxDepth {
		return reflect.Value{}, &ConvertError{Path: path, Want: "a value nested at most 64 deep", Got: v}
	}
	fail := func() (reflect.Value, error) {
		return reflect.Value{}, &ConvertError{Path: path, Want: typeName(t), Got: v}
	}
	if v == nil {
		switch t.Kind() {
		case reflect.Interface, reflect.Pointer, reflect.Slice, reflect.Map:
			return reflect.Zero(t), nil
		}
		return fail()
	}
	rv := reflect.ValueOf(v)
	if t.Kind() == reflect.Interface {
		if rv.Type().Implements(t) {
			out := reflect.New(t).Elem()
			out.Set(rv)
			return out, nil
		}
		return fail()
	}
	if t == timeType {
		return toTime(v, fail)
	}
	if t == durationType {
		if s, ok := v.(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fail()
			}
			return reflect.ValueOf(d), nil
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return reflect.ValueOf(b).Convert(t), nil
		}
	case reflect.String:
		if s, ok := v.(string); ok {
			return reflect.ValueOf(s).Convert(t), nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, ok := asInt(rv); ok {
			out := reflect.New(t).Elem()
			if !out.OverflowInt(i) {
				out.SetInt(i)
				return out, nil
			}
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u, ok := asUint(rv); ok {
			out := reflect.New(t).Elem()
			if !out.OverflowUint(u) {
				out.SetUint(u)
				return out, nil
			}
		}
	case reflect.Float32, reflect.Float64:
		if f, ok := asFloat(rv); ok {
			out := reflect.New(t).Elem()
			if !out.OverflowFloat(f) {
				out.SetFloat(f)
				return out, nil
			}
		}
	case reflect.Pointer:
		elem, err := fromWAMP(v, t.Elem(), path, depth+1)
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(elem)
		return p, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if b, ok := asBytes(v); ok {
				return reflect.ValueOf(b).Convert(t), nil
			}
		}
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return fail()
		}
		out := reflect.MakeSlice(t, rv.Len(), rv.Len())
		for i := 0; i < rv.Len(); i++ {
			e, err := fromWAMP(rv.Index(i).Interface(), t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Array:
		if (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) || rv.Len() != t.Len() {
			return fail()
		}
		out := reflect.New(t).Elem()
		for i := 0; i < rv.Len(); i++ {
			e, err := fromWAMP(rv.Index(i).Interface(), t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(e)
		}
		return out, nil
	case reflect.Map:
		if rv.Kind() != reflect.Map || t.Key().Kind() != reflect.String {
			return fail()
		}
		out := reflect.MakeMapWithSize(t, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			k, ok := iter.Key().Interface().(string)
			if !ok {
				return fail()
			}
			e, err := fromWAMP(iter.Value().Interface(), t.Elem(), joinPath(path, k), depth+1)
			if err != nil {
				return reflect.Value{}, err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		return out, nil
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fail()
		}
		out := reflect.New(t).Elem()
		if err := fillStruct(out, m, path, depth); err != nil {
			return reflect.Value{}, err
		}
		return out, nil
	}
	return fail()
}

// fillStruct sets the fields of a struct from a dict, matching keys to json
// names first and then, like encoding/json, case-insensitively to field names.
func fillStruct(out reflect.Value, m map[string]any, path string, depth int) error {
	fields := structFields(out.Type())
	for key, val := range m {
		f, ok := fields.byName[key]
		if !ok {
			f, ok = fields.byFold[strings.ToLower(key)]
		}
		if !ok {
			continue // unknown keys are ignored, as encoding/json does
		}
		fv, err := fromWAMP(val, f.typ, joinPath(path, key), depth+1)
		if err != nil {
			return err
		}
		out.FieldByIndex(f.index).Set(fv)
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func toTime(v any, fail func() (reflect.Value, error)) (reflect.Value, error) {
	switch x := v.(type) {
	case string:
		ts, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return fail()
		}
		return reflect.ValueOf(ts), nil
	case time.Time:
		return reflect.ValueOf(x), nil
	}
	if f, ok := asFloat(reflect.ValueOf(v)); ok {
		sec, frac := math.Modf(f)
		return reflect.ValueOf(time.Unix(int64(sec), int64(frac*1e9)).UTC()), nil
	}
	return fail()
}

func asInt(rv reflect.Value) (int64, bool) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		return int64(u), u <= math.MaxInt64
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		// JSON peers send 3.0 for 3; whole floats in range are integers.
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return int64(f), true
		}
	}
	return 0, false
}

func asUint(rv reflect.Value) (uint64, bool) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := rv.Int()
		return uint64(i), i >= 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint(), true
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if f == math.Trunc(f) && f >= 0 && f < 1<<64 {
			return uint64(f), true
		}
	}
	return 0, false
}

func asFloat(rv reflect.Value) (float64, bool) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// asBytes accepts binary payloads as msgpack/cbor send them, and as WAMP's
// JSON convention sends them: a string of "\x00" followed by base64.
func asBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		if strings.HasPrefix(x, "\x00") {
			b, err := base64.StdEncoding.DecodeString(x[1:])
			return b, err == nil
		}
		return []byte(x), true
	}
	return nil, false
}

// ToWAMP converts a value produced by script code into plain WAMP values:
// nil, bool, int64, uint64, float64, string, []byte, []any, map[string]any.
func ToWAMP(v reflect.Value) (any, error) {
	return toWAMP(v, 0)
}

func toWAMP(v reflect.Value, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("value nested more than %d deep (a cycle?)", maxDepth)
	}
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	if t == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano), nil
	}
	if t == durationType {
		return v.Interface().(time.Duration).String(), nil
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		if t.Kind() == reflect.Pointer && t.Implements(marshalerType) && v.CanInterface() {
			return marshalled(v)
		}
		if t.Kind() == reflect.Interface {
			// Not a level of its own: a list of lists decoded into []any
			// must nest as deep here as FromWAMP lets it in. Pointers still
			// count, so a cycle through an interface ends.
			return toWAMP(v.Elem(), depth)
		}
		return toWAMP(v.Elem(), depth+1)
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.String:
		return v.String(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), nil
	case reflect.Float32, reflect.Float64:
		return v.Float(), nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			e, err := toWAMP(v.Index(i), depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			key, ok := k.Interface().(string)
			if !ok {
				if k.Kind() == reflect.String {
					key = k.String()
				} else {
					key = fmt.Sprint(k.Interface())
				}
			}
			e, err := toWAMP(iter.Value(), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			out[key] = e
		}
		return out, nil
	case reflect.Struct:
		if t.Implements(marshalerType) && v.CanInterface() {
			return marshalled(v)
		}
		out := make(map[string]any, t.NumField())
		for _, f := range structFields(t).list {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			e, err := toWAMP(fv, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			out[f.name] = e
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s cannot be sent over WAMP", t.Kind())
}

// marshalled handles host types with their own JSON form (big.Int, say).
func marshalled(v reflect.Value) (any, error) {
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

type field struct {
	name      string
	index     []int
	typ       reflect.Type
	omitEmpty bool
}

type fieldSet struct {
	list   []field
	byName map[string]field
	byFold map[string]field
}

// structFields lists the fields that encoding/json would see, honouring json
// tags and flattening embedded structs. yaegi builds a script struct's
// reflect type with every field exported ("label" becomes "Xlabel") and an
// embedded field marked as such only when it is the struct's sole field, so
// for script structs the declarations recorded by registerStructs decide;
// for an unnamed struct type never declared in a script, a field named "X"
// followed by a lower-case letter is taken for a renamed unexported one.
func structFields(t reflect.Type) fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(fieldSet)
	}
	fs := fieldSet{byName: map[string]field{}, byFold: map[string]field{}}
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		if depth > 8 {
			return
		}
		var origins []fieldOrigin
		if t.Name() == "" {
			if o, ok := scriptStructs.Load(shapeOf(t)); ok && len(o.([]fieldOrigin)) == t.NumField() {
				origins = o.([]fieldOrigin)
			}
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			tag, hasTag := sf.Tag.Lookup("json")
			name, opts, _ := strings.Cut(tag, ",")
			if tag == "-" { // but `json:"-,"` names a field "-"
				continue
			}
			// Only yaegi's struct types are unnamed and renamed; a compiled
			// type's field names are its own.
			embedded, unexported := sf.Anonymous, !sf.IsExported() || (!hasTag && t.Name() == "" && renamedUnexported(sf.Name))
			if origins != nil {
				embedded, unexported = origins[i].embedded, origins[i].unexported || !sf.IsExported()
			}
			if embedded && !hasTag && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, idx, depth+1)
				continue
			}
			if unexported {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if _, dup := fs.byName[name]; dup {
				continue // the shallower field wins, as in encoding/json
			}
			f := field{name: name, index: idx, typ: sf.Type, omitEmpty: strings.Contains(opts, "omitempty")}
			fs.list = append(fs.list, f)
			fs.byName[name] = f
			fs.byFold[strings.ToLower(name)] = f
		}
	}
	walk(t, nil, 0)
	fieldCache.Store(t, fs)
	return fs
}

var (
	// scriptStructs maps the shape of every struct type declared in a
	// loaded script to what its declaration said about each field.
	scriptStructs sync.Map // string -> []fieldOrigin
	// fieldCache holds structFields' answers; conversions run on every call.
	fieldCache sync.Map // reflect.Type -> fieldSet
)

// fieldOrigin is what a script's declaration says about a field that its
// reflect type no longer does.
type fieldOrigin struct{ embedded, unexported bool }

// shapeOf keys a struct type by its field names and tags, as yaegi
// names them.
func shapeOf(t reflect.Type) string {
	var b strings.Builder
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		b.WriteString(sf.Name)
		b.WriteByte(0)
		b.WriteString(string(sf.Tag))
		b.WriteByte(1)
	}
	return b.String()
}

// registerStructs records the struct types declared in script files. A
// shape declared anew with different embedding (an edited script) replaces
// the old record, and the cache is dropped so the new one takes effect.
func registerStructs(files []*ast.File) {
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok || st.Fields == nil {
				return true
			}
			var b strings.Builder
			var origins []fieldOrigin
			add := func(name, tag string, embedded bool) {
				exported := ast.IsExported(name)
				if !exported {
					name = "X" + name
				}
				b.WriteString(name)
				b.WriteByte(0)
				b.WriteString(tag)
				b.WriteByte(1)
				origins = append(origins, fieldOrigin{embedded: embedded, unexported: !exported})
			}
			for _, fl := range st.Fields.List {
				tag := ""
				if fl.Tag != nil {
					tag, _ = strconv.Unquote(fl.Tag.Value)
				}
				if len(fl.Names) == 0 {
					add(embeddedName(fl.Type), tag, true)
				}
				for _, n := range fl.Names {
					add(n.Name, tag, false)
				}
			}
			key := b.String()
			if old, loaded := scriptStructs.Swap(key, origins); loaded && !reflect.DeepEqual(old, origins) {
				fieldCache.Clear()
			}
			return true
		})
	}
}

// embeddedName is the field name Go gives an embedded type.
func embeddedName(t ast.Expr) string {
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.SelectorExpr:
			return x.Sel.Name
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

func renamedUnexported(name string) bool {
	if len(name) < 2 || name[0] != 'X' {
		return false
	}
	r, _ := utf8.DecodeRuneInString(name[1:])
	return r == '_' || unicode.IsLower(r)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return "dict (struct)"
		}
	case reflect.Map:
		return "dict"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() != reflect.Uint8 {
			return "list of " + typeName(t.Elem())
		}
	}
	return t.String()
}
