package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wamphost/wamphost/loader"
)

// embeddedRouter is the nexus router that wamphost serves by default, with
// its WebSocket listener.
type embeddedRouter struct {
	nexus    router.Router
	server   *http.Server
	listener net.Listener
	log      hclog.Logger
}

const (
	jsonProtocol    = "wamp.2.json"
	msgpackProtocol = "wamp.2.msgpack"
	cborProtocol    = "wamp.2.cbor"
	// outQueueSize bounds what the router queues for one slow client; past
	// it nexus drops messages to that client rather than stall others.
	outQueueSize = 256
)

func startRouter(cfg loader.Router, log hclog.Logger, sessions prometheus.Gauge) (*embeddedRouter, error) {
	rc := &router.Config{}
	for _, r := range cfg.Realms {
		rc.RealmConfigs = append(rc.RealmConfigs, realmConfig(r))
	}
	nexus, err := router.NewRouter(rc, log.Named("nexus").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		nexus.Close()
		return nil, fmt.Errorf("router listen: %w", err)
	}
	ws := &wsHandler{
		router:  nexus,
		maxSize: int64(cfg.MaxMessageSize),
		upgrader: websocket.Upgrader{
			Subprotocols: []string{jsonProtocol, msgpackProtocol, cborProtocol},
			CheckOrigin:  originChecker(cfg.AllowOrigins),
		},
		log:      log,
		sessions: sessions,
	}
	mux := http.NewServeMux()
	mux.Handle(path.Clean(cfg.Path), ws)
	er := &embeddedRouter{
		nexus:    nexus,
		listener: ln,
		log:      log,
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() {
		if err := er.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("router listener stopped", "error", err)
		}
	}()
	log.Info("router listening", "url", fmt.Sprintf("ws://%s%s", ln.Addr(), path.Clean(cfg.Path)), "realms", realmNames(cfg.Realms))
	return er, nil
}

func realmConfig(r *loader.Realm) *router.RealmConfig {
	return &router.RealmConfig{
		URI:           nxwamp.URI(r.Name),
		AnonymousAuth: true,
		AllowDisclose: true,
	}
}

func realmNames(rs []*loader.Realm) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// close stops accepting connections, then closes the router, which says
// GOODBYE to every session still attached.
func (er *embeddedRouter) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = er.server.Shutdown(ctx)
	er.nexus.Close()
}

// wsHandler upgrades WebSocket connections itself instead of using nexus's
// WebsocketServer, because that sets no read limit: one client could make
// the daemon buffer an unbounded message (DESIGN.md decision 10). Past
// maxSize the connection is closed; other clients never notice.
type wsHandler struct {
	router   router.Router
	upgrader websocket.Upgrader
	maxSize  int64
	log      hclog.Logger
	sessions prometheus.Gauge // client sessions attached now
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "error", err)
		return
	}
	var ser serialize.Serializer
	payload := websocket.BinaryMessage
	switch conn.Subprotocol() {
	case jsonProtocol:
		ser, payload = &serialize.JSONSerializer{}, websocket.TextMessage
	case msgpackProtocol:
		ser = &serialize.MessagePackSerializer{}
	case cborProtocol:
		ser = &serialize.CBORSerializer{}
	default:
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseProtocolError, "no WAMP subprotocol (wamp.2.json, wamp.2.msgpack, wamp.2.cbor)"),
			time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	if h.maxSize > 0 {
		conn.SetReadLimit(h.maxSize)
	}
	ser = &strictSerializer{Serializer: ser, close: func() { _ = conn.Close() }}
	peer := &countedPeer{Peer: transport.NewWebsocketPeer(conn, ser, payload, h.router.Logger(), 0, outQueueSize), gauge: h.sessions}
	h.sessions.Inc()
	if err := h.router.AttachClient(peer, nxwamp.Dict{"auth": nxwamp.Dict{}}); err != nil {
		peer.Close()
		h.log.Debug("client not attached", "remote", r.RemoteAddr, "error", err)
	}
}

// countedPeer keeps wamphost_client_sessions: the router closes a peer
// once its session ends, and may close it more than once.
type countedPeer struct {
	nxwamp.Peer
	gauge prometheus.Gauge
	once  sync.Once
}

func (p *countedPeer) Close() {
	p.once.Do(p.gauge.Dec)
	p.Peer.Close()
}

// originChecker allows same-origin and non-browser clients always, and
// browser pages from other origins only when listed (globs allowed).
func originChecker(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		for _, pattern := range allowed {
			if pattern == "*" {
				return true
			}
			if ok, _ := path.Match(pattern, origin); ok {
				return true
			}
		}
		u, err := http.NewRequest("GET", origin, nil)
		return err == nil && u.URL.Host == r.Host
	}
}

// strictSerializer closes the connection of a client that sends a message
// it cannot decode: nexus would log it and read on, and a client that
// speaks garbage is either broken or probing.
type strictSerializer struct {
	serialize.Serializer
	close func()
}

func (s *strictSerializer) Deserialize(data []byte) (nxwamp.Message, error) {
	msg, err := s.Serializer.Deserialize(data)
	if err != nil {
		s.close()
	}
	return msg, err
}
