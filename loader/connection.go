package loader

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Defaults of a connection block. The reconnect policy follows Autobahn's
// Component (initial 1.5s, growth 1.5, jitter 0.1) except that it retries
// for ever and waits at most a minute: a daemon must come back on its own
// after an outage of any length, and soon after the router does.
const (
	DefaultSerializer     = "json"
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultInitialDelay   = 1500 * time.Millisecond
	DefaultMaxDelay       = 60 * time.Second
	DefaultFactor         = 1.5
	DefaultJitter         = 0.1
	DefaultMaxRetries     = -1 // unlimited
)

// Connection is a connection block: an external WAMP router that
// components may join instead of the embedded one.
type Connection struct {
	Name string
	// URL is ws://, wss://, tcp:// or tcps:// (RawSocket), or unix://PATH.
	URL        string
	Serializer string // json, msgpack or cbor
	// ConnectTimeout bounds dialing, the WAMP handshake and each reply the
	// router owes the session (REGISTERED, SUBSCRIBED, ...).
	ConnectTimeout time.Duration
	// KeepAlive is the WebSocket ping interval (0: none); two missed pongs
	// close the connection, which is how a silently dead router is found.
	KeepAlive time.Duration
	TLS       *ClientTLS // nil: no client settings (wss:// and tcps:// still use TLS)
	Auth      Auth
	Reconnect Reconnect

	Range hcl.Range
}

// ClientTLS holds a connection's client TLS settings; paths are absolute.
type ClientTLS struct {
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// Auth is how a connection's sessions authenticate.
type Auth struct {
	Method   string // anonymous, ticket, wampcra or cryptosign
	AuthID   string
	AuthRole string
	// Secret is the ticket, the wampcra secret or the cryptosign private
	// key (hex ed25519 seed), whichever Method needs.
	Secret Secret
}

// Secret is a credential. It prints as "(secret)" with every fmt verb and
// in JSON, so that logging a config never leaks one; string(s) reveals it.
type Secret string

func (s Secret) String() string   { return redacted(s) }
func (s Secret) GoString() string { return redacted(s) }

// MarshalJSON keeps the secret out of JSON logs as well.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted(s) + `"`), nil }

func redacted(s Secret) string {
	if s == "" {
		return ""
	}
	return "(secret)"
}

// Reconnect is the backoff after a lost connection: the first attempt is
// immediate, the next waits InitialDelay, and each later one Factor times
// longer, at most MaxDelay, each spread by ±Jitter (a fraction). A
// successful join resets it. MaxRetries < 0 retries for ever; 0 never
// reconnects.
type Reconnect struct {
	InitialDelay time.Duration
	MaxDelay     time.Duration
	Factor       float64
	Jitter       float64
	MaxRetries   int
}

type rawConnection struct {
	Name           string         `hcl:"name,label"`
	URL            hcl.Expression `hcl:"url"`
	Serializer     hcl.Expression `hcl:"serializer,optional"`
	ConnectTimeout hcl.Expression `hcl:"connect_timeout,optional"`
	KeepAlive      hcl.Expression `hcl:"keep_alive,optional"`
	TLS            *rawClientTLS  `hcl:"tls,block"`
	Auth           *rawAuth       `hcl:"auth,block"`
	Reconnect      *rawReconnect  `hcl:"reconnect,block"`
	DeclRange      hcl.Range      `hcl:",def_range"`
}

type rawClientTLS struct {
	CAFile             hcl.Expression `hcl:"ca_file,optional"`
	CertFile           hcl.Expression `hcl:"cert_file,optional"`
	KeyFile            hcl.Expression `hcl:"key_file,optional"`
	ServerName         hcl.Expression `hcl:"server_name,optional"`
	InsecureSkipVerify hcl.Expression `hcl:"insecure_skip_verify,optional"`
	DeclRange          hcl.Range      `hcl:",def_range"`
}

type rawAuth struct {
	Method     hcl.Expression `hcl:"method"`
	AuthID     hcl.Expression `hcl:"authid,optional"`
	AuthRole   hcl.Expression `hcl:"authrole,optional"`
	Ticket     hcl.Expression `hcl:"ticket,optional"`
	Secret     hcl.Expression `hcl:"secret,optional"`
	PrivateKey hcl.Expression `hcl:"private_key,optional"`
	DeclRange  hcl.Range      `hcl:",def_range"`
}

type rawReconnect struct {
	InitialDelay hcl.Expression `hcl:"initial_delay,optional"`
	MaxDelay     hcl.Expression `hcl:"max_delay,optional"`
	Factor       hcl.Expression `hcl:"factor,optional"`
	Jitter       hcl.Expression `hcl:"jitter,optional"`
	MaxRetries   hcl.Expression `hcl:"max_retries,optional"`
}

func (d *decoder) connections(raws []*rawConnection) map[string]*Connection {
	out := map[string]*Connection{}
	seen := map[string]hcl.Range{}
	for _, rc := range raws {
		if prev, dup := seen[rc.Name]; dup {
			d.errorf(d.headerRange(rc.DeclRange), "Duplicate connection", "A connection named %q is already declared at %s.", rc.Name, d.at(prev))
			continue
		}
		seen[rc.Name] = rc.DeclRange
		out[rc.Name] = d.connection(rc)
	}
	return out
}

func (d *decoder) connection(rc *rawConnection) *Connection {
	c := &Connection{Name: rc.Name, Range: rc.DeclRange, ConnectTimeout: DefaultConnectTimeout, KeepAlive: DefaultKeepAlive}
	c.URL = d.str(rc.URL, "")
	scheme := d.routerURL(rc.URL, c.URL)

	c.Serializer = d.str(rc.Serializer, DefaultSerializer)
	if !oneOf(c.Serializer, "json", "msgpack", "cbor") {
		d.errorf(rc.Serializer.Range(), "Invalid serializer", "serializer must be \"json\", \"msgpack\" or \"cbor\", not %q.", c.Serializer)
	}
	if s := d.str(rc.ConnectTimeout, ""); s != "" {
		c.ConnectTimeout = d.positiveDuration(rc.ConnectTimeout.Range(), s)
	}
	if s := d.str(rc.KeepAlive, ""); s != "" {
		c.KeepAlive = d.duration(rc.KeepAlive.Range(), s)
		if scheme != "" && scheme != "ws" && scheme != "wss" {
			d.errorf(rc.KeepAlive.Range(), "Unsupported argument", "keep_alive applies to ws:// and wss:// URLs only: RawSocket has no ping.")
		}
	}
	if rc.TLS != nil {
		if scheme != "" && scheme != "wss" && scheme != "tcps" {
			d.errorf(d.headerRange(rc.TLS.DeclRange), "TLS without a TLS URL", "A tls block applies to wss:// and tcps:// URLs only; %q is not one.", c.URL)
		}
		c.TLS = d.tls(rc.TLS)
	}
	c.Auth = d.auth(rc.Auth)
	c.Reconnect = d.reconnect(rc.Reconnect)
	return c
}

// routerURL checks a connection URL and returns its scheme ("" if bad).
func (d *decoder) routerURL(expr hcl.Expression, s string) string {
	bad := func(why string) string {
		d.errorf(expr.Range(), "Invalid router URL", "%q %s; use ws://HOST:PORT/PATH, wss://..., tcp://HOST:PORT, tcps://HOST:PORT or unix:///PATH.", s, why)
		return ""
	}
	if s == "" {
		return bad("is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("is not a URL")
	}
	switch u.Scheme {
	case "ws", "wss":
		if u.Host == "" {
			return bad("has no host")
		}
	case "tcp", "tcps":
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return bad("needs HOST:PORT")
		}
		if u.Path != "" && u.Path != "/" {
			return bad("has a path, which RawSocket cannot use")
		}
	case "unix":
		if u.Host+u.Path == "" {
			return bad("names no socket path")
		}
	default:
		return bad(fmt.Sprintf("has the unsupported scheme %q", u.Scheme))
	}
	return u.Scheme
}

func (d *decoder) tls(rt *rawClientTLS) *ClientTLS {
	t := &ClientTLS{ServerName: d.str(rt.ServerName, ""), InsecureSkipVerify: d.boolean(rt.InsecureSkipVerify, false)}
	file := func(expr hcl.Expression) string {
		p := d.str(expr, "")
		if p == "" {
			return ""
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			d.errorf(expr.Range(), "TLS file not found", "%s does not exist (relative paths start at the config file's directory).", p)
		}
		return p
	}
	t.CAFile = file(rt.CAFile)
	t.CertFile = file(rt.CertFile)
	t.KeyFile = file(rt.KeyFile)
	if (t.CertFile == "") != (t.KeyFile == "") {
		d.errorf(d.headerRange(rt.DeclRange), "Incomplete client certificate", "cert_file and key_file go together: give both or neither.")
	}
	return t
}

func (d *decoder) auth(ra *rawAuth) Auth {
	a := Auth{Method: "anonymous"}
	if ra == nil {
		return a
	}
	a.Method = d.str(ra.Method, "anonymous")
	a.AuthID = d.str(ra.AuthID, "")
	a.AuthRole = d.str(ra.AuthRole, "")
	want := map[string]string{"ticket": "ticket", "wampcra": "secret", "cryptosign": "private_key"}
	given := map[string]hcl.Expression{"ticket": ra.Ticket, "secret": ra.Secret, "private_key": ra.PrivateKey}
	if !oneOf(a.Method, "anonymous", "ticket", "wampcra", "cryptosign") {
		d.errorf(ra.Method.Range(), "Invalid auth method", "method must be \"anonymous\", \"ticket\", \"wampcra\" or \"cryptosign\", not %q.", a.Method)
		return a
	}
	for _, name := range []string{"ticket", "secret", "private_key"} {
		expr := given[name]
		if !present(expr) {
			continue
		}
		if want[a.Method] != name {
			d.errorf(expr.Range(), "Unsupported argument", "%s does not apply to method %q.%s", name, a.Method, secretHint(a.Method, want))
			continue
		}
		if literal(expr) {
			d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Secret in the config file",
				Detail:  fmt.Sprintf("%s is written into the config; read it with env(\"NAME\") or file(\"PATH\") so the file can be shared and logged safely.", name),
				Subject: expr.Range().Ptr()})
		}
		a.Secret = Secret(d.str(expr, ""))
	}
	if name, ok := want[a.Method]; ok {
		if !present(given[name]) {
			d.errorf(d.headerRange(ra.DeclRange), "Missing secret", "Method %q needs %s = env(\"...\") or file(\"...\").", a.Method, name)
		} else if a.Secret == "" {
			d.errorf(given[name].Range(), "Empty secret", "%s is empty.", name)
		}
		if a.AuthID == "" {
			d.errorf(d.headerRange(ra.DeclRange), "Missing authid", "Method %q needs authid: the router looks the credential up by it.", a.Method)
		}
	}
	if a.Method == "cryptosign" && a.Secret != "" {
		if b, err := hex.DecodeString(strings.TrimSpace(string(a.Secret))); err != nil || (len(b) != 32 && len(b) != 64) {
			d.errorf(ra.PrivateKey.Range(), "Invalid private key", "private_key must be an ed25519 key in hex: the 32-byte seed (64 hex digits, as Autobahn and Crossbar write it) or the 64-byte private key.")
		}
	}
	return a
}

func secretHint(method string, want map[string]string) string {
	if name, ok := want[method]; ok {
		return fmt.Sprintf(" Method %q takes %s.", method, name)
	}
	return " Method \"anonymous\" takes no secret."
}

// literal says whether an expression is written out in the file rather
// than fetched: it evaluates without any function.
func literal(expr hcl.Expression) bool {
	v, diags := expr.Value(nil)
	return !diags.HasErrors() && v.IsKnown() && !v.IsNull()
}

func (d *decoder) reconnect(rr *rawReconnect) Reconnect {
	r := Reconnect{InitialDelay: DefaultInitialDelay, MaxDelay: DefaultMaxDelay, Factor: DefaultFactor, Jitter: DefaultJitter, MaxRetries: DefaultMaxRetries}
	if rr == nil {
		return r
	}
	if s := d.str(rr.InitialDelay, ""); s != "" {
		r.InitialDelay = d.positiveDuration(rr.InitialDelay.Range(), s)
	}
	if s := d.str(rr.MaxDelay, ""); s != "" {
		r.MaxDelay = d.positiveDuration(rr.MaxDelay.Range(), s)
		if r.MaxDelay < r.InitialDelay {
			d.errorf(rr.MaxDelay.Range(), "Invalid max_delay", "max_delay (%s) is shorter than initial_delay (%s).", r.MaxDelay, r.InitialDelay)
		}
	}
	if v, ok := d.value(rr.Factor, cty.Number, "A number"); ok {
		r.Factor, _ = v.AsBigFloat().Float64()
		if r.Factor < 1 {
			d.errorf(rr.Factor.Range(), "Invalid factor", "factor must be at least 1 (1 keeps the delay constant).")
		}
	}
	if v, ok := d.value(rr.Jitter, cty.Number, "A number"); ok {
		r.Jitter, _ = v.AsBigFloat().Float64()
		if r.Jitter < 0 || r.Jitter > 1 {
			d.errorf(rr.Jitter.Range(), "Invalid jitter", "jitter is a fraction of the delay, from 0 to 1.")
		}
	}
	r.MaxRetries = d.integer(rr.MaxRetries, DefaultMaxRetries)
	return r
}

// componentRouter resolves a component's router attribute: "" is the
// embedded router.
func (d *decoder) componentRouter(expr hcl.Expression, conns map[string]*Connection) (string, *Connection) {
	name := d.str(expr, "")
	if !present(expr) {
		return "", nil
	}
	c, ok := conns[name]
	if !ok {
		names := make([]string, 0, len(conns))
		for n := range conns {
			names = append(names, n)
		}
		sort.Strings(names)
		list := "none"
		if len(names) > 0 {
			list = strings.Join(names, ", ")
		}
		d.errorf(expr.Range(), "Unknown connection", "No connection block is named %q (declared: %s). Leave router out to join the embedded router.", name, list)
		return name, nil
	}
	return name, c
}
