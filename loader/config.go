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
)

// Config is a whole components.hcl, decoded and checked.
type Config struct {
	// File is the config file's path as given; Dir is the directory that
	// relative paths in it are resolved against.
	File string
	Dir  string

	Router     Router
	Components []*Component

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
	Listen         string
	Path           string
	MaxMessageSize int
	AllowOrigins   []string
	Realms         []*Realm
}

// Realm is one realm of the embedded router.
type Realm struct {
	Name  string
	Range hcl.Range
}

// Component is one component block: a script directory bound to URIs.
type Component struct {
	Name  string
	Realm string
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
