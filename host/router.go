package host

import (
	"fmt"
	"net"

	"github.com/gammazero/nexus/v3/router"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wamphost/wamphost/loader"
)

// embeddedRouter is the nexus router that wamphost serves by default, with
// its listeners and the guards that authenticate and authorize its
// clients (authz.go).
type embeddedRouter struct {
	nexus     router.Router
	listeners []*listener
	guards    map[string]*guard // by realm
	sessions  *sessionRegistry
	log       hclog.Logger
}

const (
	jsonProtocol    = "wamp.2.json"
	msgpackProtocol = "wamp.2.msgpack"
	cborProtocol    = "wamp.2.cbor"
	// outQueueSize bounds what the router queues for one slow client; past
	// it nexus drops messages to that client rather than stall others.
	outQueueSize = 256
)

func startRouter(cfg *loader.Config, log hclog.Logger, clients prometheus.Gauge) (*embeddedRouter, error) {
	er := &embeddedRouter{guards: map[string]*guard{}, sessions: newSessionRegistry(clients), log: log}
	rc := &router.Config{}
	for _, r := range cfg.Router.Realms {
		g := newGuard(r, cfg.Components, er.sessions)
		er.guards[r.Name] = g
		rc.RealmConfigs = append(rc.RealmConfigs, g.realmConfig(r))
	}
	nexus, err := router.NewRouter(rc, log.Named("nexus").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}))
	if err != nil {
		return nil, err
	}
	er.nexus = nexus
	for _, lc := range cfg.Router.Listeners {
		l, err := startListener(nexus, er.sessions, lc, log)
		if err != nil {
			er.close()
			return nil, err
		}
		er.listeners = append(er.listeners, l)
	}
	log.Info("router serving", "realms", realmNames(cfg.Router.Realms))
	return er, nil
}

// addr is the first listener's address.
func (er *embeddedRouter) addr() net.Addr {
	if len(er.listeners) == 0 {
		return nil
	}
	return er.listeners[0].ln.Addr()
}

// urls lists where clients connect, in config order.
func (er *embeddedRouter) urls() []string {
	out := make([]string, len(er.listeners))
	for i, l := range er.listeners {
		out[i] = l.url
	}
	return out
}

// addRealm starts serving a realm new in the config.
func (er *embeddedRouter) addRealm(r *loader.Realm, comps []*loader.Component) error {
	g := newGuard(r, comps, er.sessions)
	if err := er.nexus.AddRealm(g.realmConfig(r)); err != nil {
		return fmt.Errorf("add realm %s: %w", r.Name, err)
	}
	er.guards[r.Name] = g
	return nil
}

// updateRealm swaps in a realm's new roles, principals and anonymous and
// components roles, then drops the sessions the new rules would not admit
// as they are. Everyone else stays connected.
func (er *embeddedRouter) updateRealm(r *loader.Realm, comps []*loader.Component) int {
	g := er.guards[r.Name]
	if g == nil {
		return 0
	}
	p := newPolicy(r, comps)
	g.p.Store(p)
	return er.sessions.revoke(r.Name, p)
}

// close stops accepting connections, then closes the router, which says
// GOODBYE to every session still attached.
func (er *embeddedRouter) close() {
	for _, l := range er.listeners {
		l.close()
	}
	er.nexus.Close()
}

func realmNames(rs []*loader.Realm) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}
