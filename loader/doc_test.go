package loader

import (
	"bufio"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// schemaEntry is one name a block accepts, as the raw* types declare it.
type schemaEntry struct {
	kind     string // label, attribute or block
	required bool
}

// schemaOf walks the raw* types' hcl tags: block path ("." for the file,
// then "router", "router.realm", ...) -> name -> entry. New blocks and
// attributes show up here without touching this test.
func schemaOf(t reflect.Type, path string, out map[string]map[string]schemaEntry) {
	entries := map[string]schemaEntry{}
	out[path] = entries
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		name, kind := parts[0], "attribute"
		if len(parts) > 1 {
			kind = parts[1]
		}
		switch kind {
		case "label":
			entries[name] = schemaEntry{kind: "label", required: true}
		case "attr", "attribute":
			entries[name] = schemaEntry{kind: "attribute", required: true}
		case "optional":
			entries[name] = schemaEntry{kind: "attribute"}
		case "block":
			et := f.Type
			required := et.Kind() == reflect.Struct
			for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
				et = et.Elem()
			}
			entries[name] = schemaEntry{kind: "block", required: required}
			child := name
			if path != "." {
				child = path + "." + name
			}
			schemaOf(et, child, out)
		}
		// def_range, remain and the like are not names a user writes.
	}
}

var (
	schemaMarker = regexp.MustCompile(`^<!--\s*schema:\s*(\S+)\s*-->$`)
	tableName    = regexp.MustCompile("^\\|\\s*`([a-z_][a-z0-9_]*)`\\s*\\|")
)

// docTables reads docs/configuration.md: after each `<!-- schema: PATH -->`
// marker comes a table whose rows start with | `name` | kind | required |.
func docTables(t *testing.T) map[string]map[string]schemaEntry {
	f, err := os.Open("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]schemaEntry{}
	var cur map[string]schemaEntry
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := schemaMarker.FindStringSubmatch(line); m != nil {
			if out[m[1]] != nil {
				t.Errorf("configuration.md:%d: second table for %q", n, m[1])
			}
			cur = map[string]schemaEntry{}
			out[m[1]] = cur
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if line != "" || cur == nil || len(cur) > 0 {
				cur = nil // a table ends at its first non-table line
			}
			continue
		}
		if cur == nil {
			continue
		}
		m := tableName.FindStringSubmatch(line)
		if m == nil {
			continue // header and separator rows
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Errorf("configuration.md:%d: row needs name, kind and required columns", n)
			continue
		}
		if _, dup := cur[m[1]]; dup {
			t.Errorf("configuration.md:%d: %q listed twice", n, m[1])
		}
		cur[m[1]] = schemaEntry{kind: strings.TrimSpace(cells[1]), required: strings.TrimSpace(cells[2]) == "yes"}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDocMatchesSchema keeps docs/configuration.md and the loader in step:
// every block, label and attribute the schema accepts has a row in its
// block's table, with the right kind and requiredness, and no table lists
// a name the schema lacks.
func TestDocMatchesSchema(t *testing.T) {
	schema := map[string]map[string]schemaEntry{}
	schemaOf(reflect.TypeOf(rawFile{}), ".", schema)
	doc := docTables(t)
	if len(schema) < 6 {
		t.Fatalf("schema walk found only %d blocks: %v", len(schema), keys(schema))
	}
	for path, names := range schema {
		table, ok := doc[path]
		if !ok {
			t.Errorf("configuration.md has no table for block %q (add `<!-- schema: %s -->` and a table)", path, path)
			continue
		}
		for name, want := range names {
			got, ok := table[name]
			switch {
			case !ok:
				t.Errorf("configuration.md: %s %q of block %q is not documented", want.kind, name, path)
			case got != want:
				t.Errorf("configuration.md: %q in block %q is documented as %s (required %v); the schema has %s (required %v)",
					name, path, got.kind, got.required, want.kind, want.required)
			}
		}
	}
	for path, table := range doc {
		names, ok := schema[path]
		if !ok {
			t.Errorf("configuration.md documents block %q, which the loader does not accept", path)
			continue
		}
		for name := range table {
			if _, ok := names[name]; !ok {
				t.Errorf("configuration.md documents %q in block %q, which the loader does not accept", name, path)
			}
		}
	}
}

// TestDocFunctions: every function a config may call is documented, and
// none that it may not.
func TestDocFunctions(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\|\\s*`([a-z]+)\\(").FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	for name := range evalContext(".").Functions {
		if !documented[name] {
			t.Errorf("function %s() is not documented in configuration.md", name)
		}
	}
	for name := range documented {
		if _, ok := evalContext(".").Functions[name]; !ok {
			t.Errorf("configuration.md documents %s(), which configs cannot call", name)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestDocExamples loads the doc's examples: whole configs must load
// (scripts aside), and fragments must at least be valid syntax.
func TestDocExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GREETER_TOKEN", "t")
	t.Setenv("WAMP_SECRET", "s")
	fences := regexp.MustCompile("(?s)```(hcl|json)\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(fences) < 8 {
		t.Fatalf("found %d examples in configuration.md", len(fences))
	}
	for i, m := range fences {
		name := "../docs/example." + m[1]
		src := m[2]
		whole := regexp.MustCompile(`^(router|component|daemon|connection) `).MatchString(src) || m[1] == "json"
		if !whole {
			// A fragment is a block that belongs inside another; as the
			// body of a component it must still parse.
			src = "component \"c\" {\n  source = \".\"\n" + src + "}\n"
		}
		_, ds := Parse(name, []byte(src))
		for _, d := range ds {
			if d.Summary == "Source not found" {
				continue // the examples' script directories live elsewhere
			}
			if !whole && d.Summary == "Unsupported block type" {
				continue // router and daemon fragments cannot nest
			}
			t.Errorf("example %d (%s): %s", i+1, m[1], d.Summary+": "+d.Detail)
		}
	}
}
