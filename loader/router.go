package loader

import (
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

type rawRouter struct {
	Listen         hcl.Expression `hcl:"listen,optional"`
	Path           *string        `hcl:"path,optional"`
	MaxMessageSize hcl.Expression `hcl:"max_message_size,optional"`
	AllowOrigins   []string       `hcl:"allow_origins,optional"`
	Listeners      []*rawListener `hcl:"listener,block"`
	Realms         []*rawRealm    `hcl:"realm,block"`
}

type rawListener struct {
	Type           string         `hcl:"type,label"`
	Address        hcl.Expression `hcl:"address,optional"`
	Path           hcl.Expression `hcl:"path,optional"`
	TLS            *rawTLS        `hcl:"tls,block"`
	AllowOrigins   hcl.Expression `hcl:"allow_origins,optional"`
	KeepAlive      hcl.Expression `hcl:"keepalive,optional"`
	MaxMessageSize hcl.Expression `hcl:"max_message_size,optional"`
	Serializers    hcl.Expression `hcl:"serializers,optional"`
	DeclRange      hcl.Range      `hcl:",def_range"`
}

type rawTLS struct {
	CertFile  hcl.Expression `hcl:"cert_file"`
	KeyFile   hcl.Expression `hcl:"key_file"`
	DeclRange hcl.Range      `hcl:",def_range"`
}

type rawRealm struct {
	Name                      string             `hcl:"name,label"`
	StrictURI                 hcl.Expression     `hcl:"strict_uri,optional"`
	Anonymous                 hcl.Expression     `hcl:"anonymous,optional"`
	AllowDisclose             hcl.Expression     `hcl:"allow_disclose,optional"`
	ComponentsRole            hcl.Expression     `hcl:"components_role,optional"`
	MetaStrict                hcl.Expression     `hcl:"meta_strict,optional"`
	MetaIncludeSessionDetails []string           `hcl:"meta_include_session_details,optional"`
	EnableMetaKill            hcl.Expression     `hcl:"enable_meta_kill,optional"`
	EnableMetaModify          hcl.Expression     `hcl:"enable_meta_modify,optional"`
	EventHistory              []*rawEventHistory `hcl:"event_history,block"`
	Roles                     []*rawRole         `hcl:"role,block"`
	Principals                []*rawPrincipal    `hcl:"principal,block"`
	DeclRange                 hcl.Range          `hcl:",def_range"`
}

type rawEventHistory struct {
	Topic     hcl.Expression `hcl:"topic"`
	Match     hcl.Expression `hcl:"match,optional"`
	Limit     hcl.Expression `hcl:"limit,optional"`
	DeclRange hcl.Range      `hcl:",def_range"`
}

type rawRole struct {
	Name        string           `hcl:"name,label"`
	Permissions []*rawPermission `hcl:"permission,block"`
	DeclRange   hcl.Range        `hcl:",def_range"`
}

type rawPermission struct {
	URI               hcl.Expression `hcl:"uri"`
	Match             hcl.Expression `hcl:"match,optional"`
	Call              hcl.Expression `hcl:"call,optional"`
	Register          hcl.Expression `hcl:"register,optional"`
	Publish           hcl.Expression `hcl:"publish,optional"`
	Subscribe         hcl.Expression `hcl:"subscribe,optional"`
	DiscloseCaller    hcl.Expression `hcl:"disclose_caller,optional"`
	DisclosePublisher hcl.Expression `hcl:"disclose_publisher,optional"`
	DeclRange         hcl.Range      `hcl:",def_range"`
}

type rawPrincipal struct {
	AuthID     string         `hcl:"authid,label"`
	Method     hcl.Expression `hcl:"method"`
	Secret     hcl.Expression `hcl:"secret,optional"`
	Salt       hcl.Expression `hcl:"salt,optional"`
	Iterations hcl.Expression `hcl:"iterations,optional"`
	KeyLen     hcl.Expression `hcl:"keylen,optional"`
	PublicKeys hcl.Expression `hcl:"public_keys,optional"`
	Role       hcl.Expression `hcl:"role"`
	DeclRange  hcl.Range      `hcl:",def_range"`
}

// serializerNames are the serializers nexus speaks on both transports.
var serializerNames = []string{"json", "msgpack", "cbor"}

func (d *decoder) router(raw *rawRouter) Router {
	r := Router{Listen: DefaultListen, Path: DefaultPath, MaxMessageSize: DefaultMaxMessageSize}
	if raw == nil {
		r.Realms = []*Realm{defaultRealm(DefaultRealm, hcl.Range{})}
		r.Listeners = []*Listener{r.shorthandListener(hcl.Range{})}
		return r
	}
	r.Declared = true
	r.Listen = d.str(raw.Listen, DefaultListen)
	if _, port, err := net.SplitHostPort(r.Listen); err != nil || port == "" {
		d.errorf(raw.Listen.Range(), "Invalid listen address", "listen must be host:port, such as \"127.0.0.1:8080\" or \":8080\"; %q is not.", r.Listen)
	}
	if raw.Path != nil {
		r.Path = *raw.Path
		if !strings.HasPrefix(r.Path, "/") {
			r.Path = "/" + r.Path
		}
	}
	r.MaxMessageSize = d.integer(raw.MaxMessageSize, DefaultMaxMessageSize)
	if r.MaxMessageSize < 1 {
		d.errorf(raw.MaxMessageSize.Range(), "Invalid max_message_size", "max_message_size must be at least 1 byte: an unbounded message size lets one client exhaust the daemon's memory.")
	}
	r.AllowOrigins = raw.AllowOrigins
	if len(raw.Listeners) == 0 {
		r.Listeners = []*Listener{r.shorthandListener(hcl.Range{})}
	} else {
		if present(raw.Listen) {
			d.errorf(raw.Listen.Range(), "Conflicting listen settings", "listen is the shorthand for one WebSocket listener; with listener blocks, give each its address instead.")
		}
		if present(raw.MaxMessageSize) {
			d.errorf(raw.MaxMessageSize.Range(), "Conflicting listen settings", "max_message_size at the router level applies to the shorthand listener only; set it in each listener block.")
		}
		if raw.Path != nil || raw.AllowOrigins != nil {
			d.errorf(d.headerRange(raw.Listeners[0].DeclRange), "Conflicting listen settings", "path and allow_origins at the router level apply to the shorthand listener only; set them in each listener block.")
		}
		seen := map[string]hcl.Range{}
		for _, rl := range raw.Listeners {
			l := d.listener(rl)
			if l == nil {
				continue
			}
			key := l.Network + " " + l.Address
			if prev, dup := seen[key]; dup && !strings.HasSuffix(l.Address, ":0") {
				d.errorf(rl.Address.Range(), "Duplicate listener address", "%s is already listened on at %s.", l.Address, d.at(prev))
			}
			seen[key] = rl.Address.Range()
			r.Listeners = append(r.Listeners, l)
		}
	}
	seen := map[string]hcl.Range{}
	for _, rr := range raw.Realms {
		if !validURI(rr.Name, "exact") {
			d.errorf(d.labelRange(rr.DeclRange), "Malformed realm URI", "%q is not a valid WAMP URI (dot-separated parts, no spaces or '#').", rr.Name)
		}
		if prev, dup := seen[rr.Name]; dup {
			d.errorf(d.labelRange(rr.DeclRange), "Duplicate realm", "Realm %q is already declared at %s.", rr.Name, d.at(d.labelRange(prev)))
			continue
		}
		seen[rr.Name] = rr.DeclRange
		r.Realms = append(r.Realms, d.realm(rr))
	}
	if len(r.Realms) == 0 {
		r.Realms = []*Realm{defaultRealm(DefaultRealm, hcl.Range{})}
	}
	return r
}

func (r *Router) shorthandListener(rng hcl.Range) *Listener {
	return &Listener{Type: "websocket", Network: "tcp", Address: r.Listen, Path: r.Path, AllowOrigins: r.AllowOrigins,
		MaxMessageSize: r.MaxMessageSize, Serializers: serializerNames, Range: rng}
}

func defaultRealm(name string, rng hcl.Range) *Realm {
	return &Realm{Name: name, Anonymous: DefaultAnonymousRole, AllowDisclose: true, ComponentsRole: DefaultComponentsRole, Range: rng}
}

func (d *decoder) listener(rl *rawListener) *Listener {
	l := &Listener{Type: rl.Type, Network: "tcp", Range: rl.DeclRange}
	switch rl.Type {
	case "websocket":
		l.Address = DefaultListen
	case "rawsocket":
		l.Address = DefaultRawSocketPort
	default:
		d.errorf(d.labelRange(rl.DeclRange), "Unknown listener type", "A listener is \"websocket\" or \"rawsocket\", not %q.", rl.Type)
		return nil
	}
	l.Address = d.str(rl.Address, l.Address)
	if strings.Contains(l.Address, "/") {
		// host:port never holds a slash, so a path is a Unix socket.
		l.Network = "unix"
		l.Address = strings.TrimPrefix(l.Address, "unix:")
		if !filepath.IsAbs(l.Address) {
			l.Address = filepath.Join(d.dir, l.Address)
		}
		if dir := filepath.Dir(l.Address); !isDir(dir) {
			d.errorf(rl.Address.Range(), "Invalid listen address", "The directory of Unix socket %s does not exist.", l.Address)
		}
	} else if _, port, err := net.SplitHostPort(l.Address); err != nil || port == "" {
		d.errorf(rl.Address.Range(), "Invalid listen address", "address must be host:port, such as \"127.0.0.1:8080\", or the path of a Unix socket, such as \"/run/wamphost/wamp.sock\"; %q is neither.", l.Address)
	}
	if rl.Type == "websocket" {
		l.Path = d.str(rl.Path, DefaultPath)
		if !strings.HasPrefix(l.Path, "/") {
			l.Path = "/" + l.Path
		}
		l.AllowOrigins = d.strings(rl.AllowOrigins)
	} else {
		for _, e := range []hcl.Expression{rl.Path, rl.AllowOrigins} {
			if present(e) {
				d.errorf(e.Range(), "Unsupported argument", "path and allow_origins apply to websocket listeners only.")
			}
		}
	}
	if s := d.str(rl.KeepAlive, ""); s != "" {
		l.KeepAlive = d.duration(rl.KeepAlive.Range(), s)
	}
	l.MaxMessageSize = d.integer(rl.MaxMessageSize, DefaultMaxMessageSize)
	if l.MaxMessageSize < 1 {
		d.errorf(rl.MaxMessageSize.Range(), "Invalid max_message_size", "max_message_size must be at least 1 byte: an unbounded message size lets one client exhaust the daemon's memory.")
	} else if rl.Type == "rawsocket" && l.MaxMessageSize > 16<<20 {
		d.errorf(rl.MaxMessageSize.Range(), "Invalid max_message_size", "RawSocket messages are at most 16 MiB (16777216 bytes).")
	}
	l.Serializers = serializerNames
	if present(rl.Serializers) {
		l.Serializers = d.strings(rl.Serializers)
		if len(l.Serializers) == 0 {
			d.errorf(rl.Serializers.Range(), "Invalid serializers", "A listener needs at least one serializer: json, msgpack or cbor.")
		}
		for _, s := range l.Serializers {
			if !oneOf(s, serializerNames...) {
				d.errorf(rl.Serializers.Range(), "Invalid serializers", "%q is not a serializer; use json, msgpack or cbor.", s)
			}
		}
	}
	if rl.TLS != nil {
		l.TLS = &TLS{CertFile: d.existingFile(rl.TLS.CertFile, "certificate"), KeyFile: d.existingFile(rl.TLS.KeyFile, "key")}
	}
	return l
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// existingFile resolves a path attribute against the config's directory
// and checks that the file is there, so that a typo fails the load and not
// the listener.
func (d *decoder) existingFile(expr hcl.Expression, what string) string {
	p := d.str(expr, "")
	if p == "" {
		d.errorf(expr.Range(), "Missing "+what+" file", "Name the %s file, relative to the config file.", what)
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		d.errorf(expr.Range(), "TLS "+what+" not found", "%s is not a readable file. Paths are resolved relative to the config file's directory (%s).", p, d.dir)
	}
	return p
}

// strings evaluates an optional list-of-strings attribute.
func (d *decoder) strings(expr hcl.Expression) []string {
	v, ok := d.value(expr, cty.List(cty.String), "A list of strings")
	if !ok {
		return nil
	}
	out := []string{}
	for _, e := range v.AsValueSlice() {
		if !e.IsNull() {
			out = append(out, e.AsString())
		}
	}
	return out
}

func (d *decoder) realm(rr *rawRealm) *Realm {
	r := defaultRealm(rr.Name, rr.DeclRange)
	r.StrictURI = d.boolean(rr.StrictURI, false)
	r.AllowDisclose = d.boolean(rr.AllowDisclose, true)
	r.MetaStrict = d.boolean(rr.MetaStrict, false)
	r.MetaIncludeSessionDetails = rr.MetaIncludeSessionDetails
	r.EnableMetaKill = d.boolean(rr.EnableMetaKill, false)
	r.EnableMetaModify = d.boolean(rr.EnableMetaModify, false)
	for _, rh := range rr.EventHistory {
		h := &EventHistory{Topic: d.str(rh.Topic, ""), Match: d.str(rh.Match, "exact"), Limit: d.integer(rh.Limit, DefaultHistoryLimit), Range: rh.DeclRange}
		if !oneOf(h.Match, "exact", "prefix", "wildcard") {
			d.errorf(rh.Match.Range(), "Invalid match", "match must be \"exact\", \"prefix\" or \"wildcard\", not %q.", h.Match)
		} else if !validURI(h.Topic, h.Match) {
			d.errorf(rh.Topic.Range(), "Malformed URI", "%q is not a valid WAMP URI for match %q.", h.Topic, h.Match)
		}
		if h.Limit < 1 {
			d.errorf(rh.Limit.Range(), "Invalid limit", "limit must be at least 1.")
		}
		r.EventHistory = append(r.EventHistory, h)
	}
	roles := map[string]hcl.Range{}
	for _, rro := range rr.Roles {
		if prev, dup := roles[rro.Name]; dup {
			d.errorf(d.labelRange(rro.DeclRange), "Duplicate role", "Role %q is already declared in realm %q at %s.", rro.Name, rr.Name, d.at(d.labelRange(prev)))
			continue
		}
		roles[rro.Name] = rro.DeclRange
		role := &Role{Name: rro.Name, Range: rro.DeclRange}
		for _, rp := range rro.Permissions {
			role.Permissions = append(role.Permissions, d.permission(rp))
		}
		r.Roles = append(r.Roles, role)
	}
	knownRole := func(expr hcl.Expression, name, what string) {
		if len(roles) == 0 {
			d.errorf(expr.Range(), "Unknown role", "%s role %q is not declared: realm %q declares no roles. Add role %q { permission { ... } } to say what it may do.", what, name, rr.Name, name)
		} else if _, ok := roles[name]; !ok {
			d.errorf(expr.Range(), "Unknown role", "%s role %q is not declared in realm %q (declared: %s).", what, name, rr.Name, roleList(r.Roles))
		}
	}
	// Anonymous clients are welcome in an open realm; once the realm has
	// roles, letting them in is a decision the config must state.
	if r.Open() {
		r.Anonymous = DefaultAnonymousRole
	} else {
		r.Anonymous = ""
	}
	if present(rr.Anonymous) {
		if v, diags := rr.Anonymous.Value(d.ctx); !diags.HasErrors() && v.Type() == cty.Bool && v.IsKnown() && !v.IsNull() {
			if v.True() {
				r.Anonymous = DefaultAnonymousRole
			} else {
				r.Anonymous = ""
			}
		} else {
			r.Anonymous = d.str(rr.Anonymous, "")
			if r.Anonymous == "" {
				d.errorf(rr.Anonymous.Range(), "Invalid anonymous", "anonymous is true, false or the name of a role.")
			}
		}
		if r.Anonymous != "" && !r.Open() {
			knownRole(rr.Anonymous, r.Anonymous, "The anonymous")
		}
	}
	if present(rr.ComponentsRole) {
		r.ComponentsRole = d.str(rr.ComponentsRole, DefaultComponentsRole)
		if r.Open() {
			d.errorf(rr.ComponentsRole.Range(), "Unknown role", "components_role %q names a role, but realm %q declares none: in a realm without roles every session may do everything.", r.ComponentsRole, rr.Name)
		} else if r.ComponentsRole != DefaultComponentsRole {
			knownRole(rr.ComponentsRole, r.ComponentsRole, "The components")
		}
	}
	principals := map[string]hcl.Range{}
	for _, rp := range rr.Principals {
		if prev, dup := principals[rp.AuthID]; dup {
			d.errorf(d.labelRange(rp.DeclRange), "Duplicate principal", "Principal %q is already declared in realm %q at %s.", rp.AuthID, rr.Name, d.at(d.labelRange(prev)))
			continue
		}
		principals[rp.AuthID] = rp.DeclRange
		p := d.principal(rp)
		if p.Role != "" {
			knownRole(rp.Role, p.Role, "The principal's")
		}
		r.Principals = append(r.Principals, p)
	}
	if !r.AllowDisclose {
		for _, role := range r.Roles {
			for _, p := range role.Permissions {
				if p.DiscloseCaller {
					d.errorf(p.Range, "Disclosure not allowed", "disclose_caller needs allow_disclose = true in realm %q: the router refuses calls that ask to disclose the caller otherwise.", rr.Name)
				}
			}
		}
	}
	return r
}

func (d *decoder) permission(rp *rawPermission) *Permission {
	p := &Permission{URI: d.str(rp.URI, ""), Match: d.str(rp.Match, "exact"), Range: rp.DeclRange}
	if !oneOf(p.Match, "exact", "prefix", "wildcard") {
		d.errorf(rp.Match.Range(), "Invalid match", "match must be \"exact\", \"prefix\" or \"wildcard\", not %q.", p.Match)
	} else if !(p.Match == "prefix" && p.URI == "") && !validURI(p.URI, p.Match) {
		d.errorf(rp.URI.Range(), "Malformed URI", "%q is not a valid WAMP URI for match %q%s.", p.URI, p.Match, wildcardHint(p.Match))
	}
	p.Call = d.boolean(rp.Call, false)
	p.Register = d.boolean(rp.Register, false)
	p.Publish = d.boolean(rp.Publish, false)
	p.Subscribe = d.boolean(rp.Subscribe, false)
	p.DiscloseCaller = d.boolean(rp.DiscloseCaller, false)
	p.DisclosePublisher = d.boolean(rp.DisclosePublisher, false)
	return p
}

func (d *decoder) principal(rp *rawPrincipal) *Principal {
	p := &Principal{AuthID: rp.AuthID, Method: d.str(rp.Method, ""), Role: d.str(rp.Role, ""), Range: rp.DeclRange}
	if p.AuthID == "" {
		d.errorf(d.labelRange(rp.DeclRange), "Invalid authid", "A principal's authid must not be empty.")
	}
	if p.Role == "" {
		d.errorf(rp.Role.Range(), "Missing role", "A principal needs the name of a role declared in its realm.")
	}
	switch p.Method {
	case "ticket", "wampcra":
		if present(rp.PublicKeys) {
			d.errorf(rp.PublicKeys.Range(), "Unsupported argument", "public_keys applies to cryptosign principals; %s principals have a secret.", p.Method)
		}
		p.Secret = d.str(rp.Secret, "")
		if !present(rp.Secret) {
			d.errorf(d.headerRange(rp.DeclRange), "Missing secret", "%s principal %q needs secret = ..., best read with env(\"NAME\") or file(\"path\") so it stays out of the config.", p.Method, p.AuthID)
		} else if p.Secret == "" {
			d.errorf(rp.Secret.Range(), "Missing secret", "The secret of %q is empty: anyone could authenticate as it.", p.AuthID)
		}
		d.salting(rp, p)
	case "cryptosign":
		d.salting(rp, p)
		if present(rp.Secret) {
			d.errorf(rp.Secret.Range(), "Unsupported argument", "cryptosign principals have public_keys, not a secret: the router never sees the private key.")
		}
		if !present(rp.PublicKeys) {
			d.errorf(d.headerRange(rp.DeclRange), "Missing public_keys", "cryptosign principal %q needs public_keys = [\"<64 hex digits>\", ...]: the Ed25519 public keys it may sign with.", p.AuthID)
		}
		p.PublicKeys = d.strings(rp.PublicKeys)
		if present(rp.PublicKeys) && len(p.PublicKeys) == 0 {
			d.errorf(rp.PublicKeys.Range(), "Missing public_keys", "public_keys is empty: principal %q could never authenticate.", p.AuthID)
		}
		for i, k := range p.PublicKeys {
			k = strings.ToLower(strings.TrimSpace(k))
			p.PublicKeys[i] = k
			if b, err := hex.DecodeString(k); err != nil || len(b) != 32 {
				d.errorf(rp.PublicKeys.Range(), "Invalid public key", "%q is not an Ed25519 public key: 64 hex digits are expected.", k)
			}
		}
	default:
		d.errorf(rp.Method.Range(), "Invalid method", "method must be \"ticket\", \"wampcra\" or \"cryptosign\", not %q.", p.Method)
	}
	return p
}

// Defaults of a salted wampcra secret, Autobahn's and Crossbar.io's.
const (
	DefaultIterations = 1000
	DefaultKeyLen     = 32
)

// salting reads a wampcra principal's salt, iterations and keylen; other
// methods have none.
func (d *decoder) salting(rp *rawPrincipal, p *Principal) {
	for _, a := range []struct {
		name string
		expr hcl.Expression
	}{{"salt", rp.Salt}, {"iterations", rp.Iterations}, {"keylen", rp.KeyLen}} {
		if !present(a.expr) {
			continue
		}
		switch {
		case p.Method != "wampcra":
			d.errorf(a.expr.Range(), "Unsupported argument", "%s applies to wampcra principals (a salted secret), not %s ones.", a.name, p.Method)
		case a.name != "salt" && !present(rp.Salt):
			d.errorf(a.expr.Range(), "Unsupported argument", "%s applies to a salted secret: set salt too, or leave %s out.", a.name, a.name)
		}
	}
	if p.Method != "wampcra" || !present(rp.Salt) {
		return
	}
	p.Salt = d.str(rp.Salt, "")
	if p.Salt == "" {
		d.errorf(rp.Salt.Range(), "Invalid salt", "The salt of %q is empty; leave salt out for an unsalted secret.", p.AuthID)
	}
	p.Iterations = d.integer(rp.Iterations, DefaultIterations)
	p.KeyLen = d.integer(rp.KeyLen, DefaultKeyLen)
	if p.Iterations < 1 {
		d.errorf(rp.Iterations.Range(), "Invalid iterations", "iterations must be at least 1, not %d.", p.Iterations)
	}
	if p.KeyLen < 1 {
		d.errorf(rp.KeyLen.Range(), "Invalid keylen", "keylen must be at least 1, not %d.", p.KeyLen)
	}
}

func roleList(rs []*Role) string {
	if len(rs) == 0 {
		return "none"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}
