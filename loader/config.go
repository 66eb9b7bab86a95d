package loader

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults that make a bare components.hcl serve the Autobahn guide's
// examples unchanged: ws://localhost:8080/ws, realm realm1.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultPath           = "/ws"
	DefaultRealm          = "realm1"
	DefaultMaxMessageSize = 1 << 20 // bytes; nexus sets no limit of its own
	DefaultEventQueue     = 1024
	DefaultShutdownGrace  = 10 * time.Second
	DefaultCallTimeout    = 60 * time.Second
	DefaultConcurrency    = 1024
	// DefaultComponentsRole names the role components get unless a realm
	// says otherwise; see docs/router.md.
	DefaultComponentsRole = "component"
	DefaultAnonymousRole  = "anonymous"
	DefaultRawSocketPort  = "127.0.0.1:8081"
	DefaultHistoryLimit   = 100
)

// Config is a whole components.hcl, decoded and checked.
type Config struct {
	// File is the config file's path as given; Dir is the directory that
	// relative paths in it are resolved against.
	File string
	Dir  string

	Router Router
	// Connections are the external routers, in file order.
	Connections []*Connection
	Components  []*Component

	// ShutdownGrace is how long in-flight calls may run after SIGTERM.
	ShutdownGrace time.Duration
	// CallTimeout is the default deadline of a handler, after which the
	// caller gets wamp.error.timeout and a handler that ignores its
	// context costs its component a fresh interpreter.
	CallTimeout time.Duration
	// Watch turns file watching on or off; nil leaves it to the command line.
	Watch *bool
	// LogLevel is the daemon's log level ("" leaves it to the command
	// line); a reload applies a new one.
	LogLevel string
	// MetricsListen is the host:port of the metrics and health listener;
	// "" serves none.
	MetricsListen string
}

// Router is the embedded router.
type Router struct {
	// Declared is true when the config has a router block. Without one,
	// the embedded router only starts if a component joins it.
	Declared bool
	// Listen, Path, MaxMessageSize and AllowOrigins are the shorthand for
	// one WebSocket listener; when listener blocks are given they keep
	// their defaults and Listeners says what is served.
	Listen         string
	Path           string
	MaxMessageSize int
	AllowOrigins   []string
	// Listeners is never empty: the shorthand becomes one WebSocket
	// listener.
	Listeners []*Listener
	Realms    []*Realm
}

// Listener is one endpoint clients connect to.
type Listener struct {
	// Type is "websocket" or "rawsocket".
	Type string
	// Network is "tcp" or "unix"; Address is host:port or the socket's
	// absolute path.
	Network string
	Address string
	// Path is the WebSocket endpoint's HTTP path (websocket only).
	Path string
	// TLS serves the listener over TLS when set.
	TLS *TLS
	// AllowOrigins lists browser origins besides the router's own host
	// (websocket only).
	AllowOrigins []string
	// KeepAlive is the WebSocket ping interval, or the TCP keep-alive
	// period of a rawsocket; zero turns it off.
	KeepAlive      time.Duration
	MaxMessageSize int
	// Serializers are the ones offered: json, msgpack, cbor.
	Serializers []string
	Range       hcl.Range
}

// TLS names a listener's certificate and key files (absolute paths).
type TLS struct {
	CertFile string
	KeyFile  string
}

// Realm is one realm of the embedded router.
type Realm struct {
	Name string
	// StrictURI makes the router refuse URIs outside the WAMP spec's
	// strict form.
	StrictURI bool
	// Anonymous is the role given to clients that authenticate
	// anonymously; "" refuses them.
	Anonymous string
	// AllowDisclose lets callers and callees ask for caller disclosure.
	AllowDisclose bool
	// ComponentsRole is the role of the daemon's own components in this
	// realm. DefaultComponentsRole, when the realm declares no role of
	// that name, is the built-in least-privilege role.
	ComponentsRole string

	MetaStrict                bool
	MetaIncludeSessionDetails []string
	EnableMetaKill            bool
	EnableMetaModify          bool

	EventHistory []*EventHistory
	// Roles is empty for an open realm, where every session may do
	// everything.
	Roles      []*Role
	Principals []*Principal

	Range hcl.Range
}

// Open reports whether the realm declares no roles and so authorizes
// every action of every session.
func (r *Realm) Open() bool { return len(r.Roles) == 0 }

// Role is a named set of permissions.
type Role struct {
	Name        string
	Permissions []*Permission
	Range       hcl.Range
}

// Permission grants actions on the URIs it matches.
type Permission struct {
	URI string
	// Match is exact, prefix or wildcard.
	Match     string
	Call      bool
	Register  bool
	Publish   bool
	Subscribe bool
	// DiscloseCaller and DisclosePublisher make the router reveal this
	// role's sessions to callees and subscribers.
	DiscloseCaller    bool
	DisclosePublisher bool
	Range             hcl.Range
}

// Principal is a client that authenticates by authid and a credential.
type Principal struct {
	AuthID string
	// Method is ticket, wampcra or cryptosign.
	Method string
	// Secret is the ticket or the wampcra secret; with Salt, the key derived
	// from the password (PBKDF2-SHA256, base64), as Crossbar.io keeps it.
	Secret string
	// Salt, Iterations and KeyLen are a salted wampcra secret's
	// derivation, sent with the challenge so that the client derives the
	// same key from its password.
	Salt       string
	Iterations int
	KeyLen     int
	// PublicKeys are hex Ed25519 keys (cryptosign).
	PublicKeys []string
	Role       string
	Range      hcl.Range
}

// EventHistory keeps the last Limit events of the topics it matches.
type EventHistory struct {
	Topic string
	Match string
	Limit int
	Range hcl.Range
}

// Component is one component block: a script directory bound to URIs.
type Component struct {
	Name  string
	Realm string
	// Router names the connection the component joins; "" (and a nil
	// Connection) is the embedded router.
	Router     string
	Connection *Connection
	// Source is the absolute path of the script directory or file.
	Source string
	// Config holds the block's free-form config values as JSON-like Go
	// values (map[string]any, []any, string, float64, bool, nil).
	Config map[string]any
	// AllowImports widens the script import allow-list by package path.
	AllowImports []string
	// EventQueue bounds each subscription's queue of undelivered events.
	EventQueue int

	Registers  []*Binding
	Subscribes []*Binding

	Range       hcl.Range
	SourceRange hcl.Range
}

// Bindings returns the registrations followed by the subscriptions.
func (c *Component) Bindings() []*Binding {
	out := make([]*Binding, 0, len(c.Registers)+len(c.Subscribes))
	out = append(out, c.Registers...)
	return append(out, c.Subscribes...)
}

// Kind says whether a binding is a registration or a subscription.
type Kind string

const (
	Register  Kind = "register"
	Subscribe Kind = "subscribe"
)

// Binding is one register or subscribe block.
type Binding struct {
	Kind    Kind
	URI     string
	Handler string
	// Match is exact, prefix or wildcard.
	Match string
	// Invoke is the shared-registration policy (registrations only).
	Invoke string
	// DiscloseCaller asks the router to reveal callers (registrations only).
	DiscloseCaller bool
	// Timeout is this handler's deadline (the daemon's call_timeout unless set).
	Timeout time.Duration
	// Concurrency bounds the calls running at once (registrations only);
	// calls over it get wamp.error.unavailable at once.
	Concurrency int

	Range        hcl.Range
	HandlerRange hcl.Range
}

// EmbeddedRouter reports whether the config needs the embedded router: it
// declares a router block, or a component joins the embedded router.
// A config whose components all join named connections, with no router
// block, opens no port of its own.
func (c *Config) EmbeddedRouter() bool {
	if c.Router.Declared {
		return true
	}
	for _, cc := range c.Components {
		if cc.Connection == nil {
			return true
		}
	}
	return false
}
