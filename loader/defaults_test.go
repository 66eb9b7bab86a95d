package loader

import (
	"path/filepath"
	"testing"
)

// parse loads src as if it were testdata/<name>, so that source = "app"
// finds testdata/app.
func parse(t *testing.T, name, src string) *Config {
	t.Helper()
	cfg, ds := Parse(filepath.Join("testdata", name), []byte(src))
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", ds.Error())
	}
	return cfg
}

func TestDefaultsWithoutRouterBlock(t *testing.T) {
	cfg := parse(t, "c.hcl", `
component "add2" {
  source = "app"
  register "com.myapp.add2" { handler = "Add2" }
  subscribe "com.myapp.oncounter" { handler = "OnCounter" }
}`)
	r := cfg.Router
	if r.Listen != "127.0.0.1:8080" || r.Path != "/ws" || r.MaxMessageSize != 1<<20 || r.AllowOrigins != nil {
		t.Errorf("router defaults: %+v", r)
	}
	if len(r.Realms) != 1 || r.Realms[0].Name != "realm1" {
		t.Errorf("default realms: %v", realmList(r.Realms))
	}
	if cfg.ShutdownGrace != DefaultShutdownGrace || cfg.Watch != nil {
		t.Errorf("daemon defaults: grace %v, watch %v", cfg.ShutdownGrace, cfg.Watch)
	}
	c := cfg.Components[0]
	if c.Realm != "realm1" || c.EventQueue != DefaultEventQueue || c.Config != nil || c.AllowImports != nil {
		t.Errorf("component defaults: %+v", c)
	}
	reg, sub := c.Registers[0], c.Subscribes[0]
	if reg.Match != "exact" || reg.Invoke != "single" || reg.DiscloseCaller {
		t.Errorf("register defaults: %+v", reg)
	}
	if sub.Match != "exact" || sub.Invoke != "" {
		t.Errorf("subscribe defaults: %+v", sub)
	}
}

func TestDefaultsInRouterBlock(t *testing.T) {
	cfg := parse(t, "c.hcl", `
router {
  path = "wamp/v1"
}
component "add2" { source = "app" }`)
	r := cfg.Router
	if r.Listen != DefaultListen || r.Path != "/wamp/v1" || r.MaxMessageSize != DefaultMaxMessageSize {
		t.Errorf("router: %+v", r)
	}
	if len(r.Realms) != 1 || r.Realms[0].Name != DefaultRealm {
		t.Errorf("a router block without realms must serve realm1, got %v", realmList(r.Realms))
	}
	if cfg.Components[0].Realm != DefaultRealm {
		t.Errorf("component realm %q", cfg.Components[0].Realm)
	}
}

func TestSoleRealmIsTheDefault(t *testing.T) {
	for _, name := range []string{"c.hcl", "c.json"} {
		src := `
router {
  realm "com.example.only" {}
}
component "add2" { source = "app" }`
		if name == "c.json" {
			src = `{"router": {"realm": {"com.example.only": {}}}, "component": {"add2": {"source": "app"}}}`
		}
		cfg := parse(t, name, src)
		if got := cfg.Components[0].Realm; got != "com.example.only" {
			t.Errorf("%s: component realm %q, want the sole declared realm", name, got)
		}
	}
}

func TestPathIsNormalised(t *testing.T) {
	for in, want := range map[string]string{"ws": "/ws", "/ws": "/ws", "a/b": "/a/b", "": "/"} {
		cfg := parse(t, "c.hcl", `router { path = "`+in+`" }`)
		if cfg.Router.Path != want {
			t.Errorf("path %q became %q, want %q", in, cfg.Router.Path, want)
		}
	}
}

func TestEnvPrefersTheVariable(t *testing.T) {
	t.Setenv("WAMPHOST_TEST_LISTEN", "127.0.0.1:9999")
	cfg := parse(t, "c.hcl", `router { listen = env("WAMPHOST_TEST_LISTEN", "127.0.0.1:1") }`)
	if cfg.Router.Listen != "127.0.0.1:9999" {
		t.Errorf("listen %q: env() must return the set variable over its default", cfg.Router.Listen)
	}
}

func TestFunctions(t *testing.T) {
	cfg := parse(t, "c.hcl", `
component "f" {
  source = "app"
  config = {
    trim     = trim("  x \n")
    lower    = lower("ABC")
    upper    = upper("abc")
    join     = join("-", ["a", "b"])
    split    = split(".", "a.b")
    tonumber = tonumber("42")
    tostring = tostring(7)
    tobool   = tobool("true")
  }
}`)
	got := cfg.Components[0].Config
	want := map[string]any{
		"trim": "x", "lower": "abc", "upper": "ABC", "join": "a-b", "split": []any{"a", "b"},
		"tonumber": 42.0, "tostring": "7", "tobool": true,
	}
	for k, v := range want {
		if dump(got[k]) != dump(v) {
			t.Errorf("%s() gave %#v, want %#v", k, got[k], v)
		}
	}
}

func TestURIRules(t *testing.T) {
	cases := []struct {
		uri, match string
		ok         bool
	}{
		{"com.myapp.add2", "exact", true},
		{"add2", "exact", true},
		{"com..add2", "exact", false},
		{"com.myapp.", "exact", false},
		{"com.my app", "exact", false},
		{"com.#.x", "exact", false},
		{"", "exact", false},
		{"com.myapp.", "prefix", true},
		{"com.myapp", "prefix", true},
		{"com..myapp", "prefix", false},
		{"com..add2", "wildcard", true},
		{".myapp.", "wildcard", true},
		{"com.myapp.#", "wildcard", false},
		{"nodots", "wildcard", false},
	}
	for _, c := range cases {
		if got := validURI(c.uri, c.match); got != c.ok {
			t.Errorf("validURI(%q, %q) = %v, want %v", c.uri, c.match, got, c.ok)
		}
	}
}

func TestSourcesInBadConfigs(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	got := sourcesIn(filepath.Join("testdata", "c.hcl"), []byte(`
component "a" { source = "app" }
component "b" {
  source = "later"
  handler = "oops"
}`))
	want := []string{filepath.Join(dir, "app"), filepath.Join(dir, "later")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("sourcesIn = %v, want %v", got, want)
	}
	if got := sourcesIn("testdata/c.hcl", []byte(`component "a" { source = "${1e99999999}" }`)); got != nil {
		t.Errorf("sourcesIn evaluated an out-of-range number: %v", got)
	}
}

// TestEmbeddedRouterNeeded: the embedded router is wanted when a router
// block is declared (even an empty one) or a component joins it, and not
// when every component joins a named connection and no block says so.
func TestEmbeddedRouterNeeded(t *testing.T) {
	const conn = `connection "ext" { url = "ws://127.0.0.1:9/ws" }
`
	const external = `component "a" {
  router = "ext"
  realm  = "realm1"
  source = "app"
}
`
	const jsonConn = `"connection": {"ext": {"url": "ws://127.0.0.1:9/ws"}}`
	const jsonExternal = `"component": {"a": {"router": "ext", "realm": "realm1", "source": "app"}}`
	cases := []struct {
		name, hcl, json string
		want            bool
	}{
		{"all external, no router block", conn + external, "{" + jsonConn + ", " + jsonExternal + "}", false},
		{"all external, empty router block", conn + "router {}\n" + external, "{" + jsonConn + `, "router": {}, ` + jsonExternal + "}", true},
		{"one on the embedded router", conn + external + `component "b" { source = "app" }`,
			"{" + jsonConn + `, "component": {"a": {"router": "ext", "realm": "realm1", "source": "app"}, "b": {"source": "app"}}}`, true},
		{"no components", conn, "{" + jsonConn + "}", false},
	}
	for _, c := range cases {
		for name, src := range map[string]string{"c.hcl": c.hcl, "c.json": c.json} {
			cfg := parse(t, name, src)
			if got := cfg.EmbeddedRouter(); got != c.want {
				t.Errorf("%s (%s): EmbeddedRouter() = %v, want %v (Declared %v)", c.name, name, got, c.want, cfg.Router.Declared)
			}
		}
	}
}
