package loader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// TestSyntaxParity loads one config written twice, in HCL's native syntax
// and in its JSON syntax, and expects the same Config from both: users may
// generate JSON without losing a feature.
func TestSyntaxParity(t *testing.T) {
	if _, set := os.LookupEnv("WAMPHOST_PARITY_SURELY_UNSET"); set {
		t.Fatal("WAMPHOST_PARITY_SURELY_UNSET must be unset: components.hcl relies on env()'s default")
	}
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	no := false
	want := &Config{
		Dir:           filepath.Join(dir, "parity"),
		ShutdownGrace: 2 * time.Second,
		CallTimeout:   DefaultCallTimeout,
		Watch:         &no,
		Router: Router{
			Declared:       true,
			Listen:         "127.0.0.1:9000",
			Path:           "/wamp",
			MaxMessageSize: 65536,
			AllowOrigins:   []string{"https://example.com", "http://localhost:*"},
			Listeners: []*Listener{{Type: "websocket", Network: "tcp", Address: "127.0.0.1:9000", Path: "/wamp",
				AllowOrigins: []string{"https://example.com", "http://localhost:*"}, MaxMessageSize: 65536, Serializers: serializerNames}},
			Realms: []*Realm{defaultRealm("realm1", hcl.Range{}), defaultRealm("com.example.admin", hcl.Range{})},
		},
		Components: []*Component{{
			Name:       "add2",
			Realm:      "realm1",
			Source:     filepath.Join(dir, "app"),
			EventQueue: DefaultEventQueue,
			Registers: []*Binding{
				{Kind: Register, URI: "com.myapp.add2", Handler: "Add2", Match: "exact", Invoke: "single", Timeout: DefaultCallTimeout, Concurrency: DefaultConcurrency},
				{Kind: Register, URI: "com.myapp.math.", Handler: "Math", Match: "prefix", Invoke: "roundrobin", DiscloseCaller: true, Timeout: 5 * time.Second, Concurrency: 8},
			},
		}, {
			Name:         "greeter",
			Realm:        "com.example.admin",
			Source:       filepath.Join(dir, "app", "app.go"),
			AllowImports: []string{"encoding/csv", "math/big"},
			EventQueue:   16,
			Config: map[string]any{
				"greeting": "HELLO",
				"token":    "fallback",
				"secret":   "s3cr3t",
				"limits": map[string]any{
					"max": 10.0, "ratio": 0.5, "on": true, "tags": []any{"a", "b"}, "none": nil,
				},
				"words": []any{"x", "y"},
			},
			Subscribes: []*Binding{
				{Kind: Subscribe, URI: "com.myapp..tick", Handler: "OnTick", Match: "wildcard", Timeout: DefaultCallTimeout},
				{Kind: Subscribe, URI: "com.myapp.oncounter", Handler: "OnCounter", Match: "exact", Timeout: DefaultCallTimeout},
			},
		}},
	}
	for _, name := range []string{"components.hcl", "components.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "parity", name)
			cfg, ds := Load(path)
			if len(ds) > 0 {
				t.Fatalf("unexpected diagnostics:\n%s", ds.Error())
			}
			if cfg.File != path {
				t.Errorf("File = %q, want %q", cfg.File, path)
			}
			checkRanges(t, cfg, path)
			cfg.File = ""
			stripRanges(reflect.ValueOf(cfg))
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("%s decoded differently:\n got %s\nwant %s", name, dump(cfg), dump(want))
			}
		})
	}
}

// checkRanges makes sure the positions host reports errors at are set and
// point into the file they came from.
func checkRanges(t *testing.T, cfg *Config, path string) {
	t.Helper()
	rs := map[string]hcl.Range{}
	for _, r := range cfg.Router.Realms {
		rs["realm "+r.Name] = r.Range
	}
	for _, c := range cfg.Components {
		rs["component "+c.Name] = c.Range
		rs["source of "+c.Name] = c.SourceRange
		for _, b := range c.Bindings() {
			rs[string(b.Kind)+" "+b.URI] = b.Range
			rs["handler of "+b.URI] = b.HandlerRange
		}
	}
	for what, r := range rs {
		if r.Filename != path || r.Start.Line < 1 || r.Start.Column < 1 {
			t.Errorf("%s has no usable range: %+v", what, r)
		}
	}
}

var rangeType = reflect.TypeOf(hcl.Range{})

// stripRanges zeroes every hcl.Range reachable from v, in place.
func stripRanges(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			stripRanges(v.Elem())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stripRanges(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == rangeType {
			if v.CanSet() {
				v.SetZero()
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			stripRanges(v.Field(i))
		}
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return strings.ReplaceAll(string(b), "\n", "\n    ")
}

// TestJSONDiagnosticsHavePositions: errors in a JSON config point at the
// offending property, as they do in HCL.
func TestJSONDiagnosticsHavePositions(t *testing.T) {
	src := []byte(`{
  "component": {
    "add2": {
      "source": "../app",
      "realm": "nope",
      "register": {"com.myapp.add2": {"handler": "add2", "match": "everything"}}
    }
  }
}`)
	_, ds := Parse(filepath.Join("testdata", "parity", "bad.json"), src)
	want := map[string][2]int{
		"Unknown realm":        {5, 16},
		"Invalid handler name": {6, 50},
		"Invalid match":        {6, 67},
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(ds), len(want), ds.Error())
	}
	for _, d := range ds {
		pos, ok := want[d.Summary]
		if !ok {
			t.Errorf("unexpected diagnostic %s", d.Summary+": "+d.Detail)
			continue
		}
		if d.Pos.Line != pos[0] || d.Pos.Column != pos[1] {
			t.Errorf("%s at %d:%d, want %d:%d", d.Summary, d.Pos.Line, d.Pos.Column, pos[0], pos[1])
		}
		if d.Source != strings.Split(string(src), "\n")[pos[0]-1] {
			t.Errorf("%s: source line %q", d.Summary, d.Source)
		}
	}
}
