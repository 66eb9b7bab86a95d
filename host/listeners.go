package host

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/loader"
)

// listener is one running endpoint of the embedded router.
type listener struct {
	cfg   *loader.Listener
	ln    net.Listener
	url   string
	close func()
}

var wsProtocols = map[string]string{"json": jsonProtocol, "msgpack": msgpackProtocol, "cbor": cborProtocol}

// listen opens cfg's socket, with TLS when configured. A Unix socket left
// behind by a daemon that died is removed first; one that still answers
// is not.
func listen(cfg *loader.Listener) (net.Listener, error) {
	if cfg.Network == "unix" {
		if st, err := os.Stat(cfg.Address); err == nil && st.Mode().Type() == fs.ModeSocket {
			if c, err := net.DialTimeout("unix", cfg.Address, time.Second); err == nil {
				c.Close()
				return nil, fmt.Errorf("%s: another process is listening on this socket", cfg.Address)
			}
			_ = os.Remove(cfg.Address)
		}
	}
	ln, err := net.Listen(cfg.Network, cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	return ln, nil
}

func listenerURL(cfg *loader.Listener, addr net.Addr) string {
	secure := cfg.TLS != nil
	switch {
	case cfg.Type == "websocket" && cfg.Network == "unix":
		return "ws+unix://" + cfg.Address + ":" + cfg.Path
	case cfg.Type == "websocket" && secure:
		return "wss://" + addr.String() + cfg.Path
	case cfg.Type == "websocket":
		return "ws://" + addr.String() + cfg.Path
	case cfg.Network == "unix":
		return "unix://" + cfg.Address
	case secure:
		return "tcps://" + addr.String()
	}
	return "tcp://" + addr.String()
}

func startListener(nexus router.Router, reg *sessionRegistry, cfg *loader.Listener, log hclog.Logger) (*listener, error) {
	ln, err := listen(cfg)
	if err != nil {
		return nil, fmt.Errorf("router listen %s: %w", cfg.Address, err)
	}
	l := &listener{cfg: cfg, ln: ln, url: listenerURL(cfg, ln.Addr())}
	if cfg.Type == "websocket" {
		var protos []string
		for _, s := range cfg.Serializers {
			protos = append(protos, wsProtocols[s])
		}
		ws := &wsHandler{
			router:    nexus,
			sessions:  reg,
			maxSize:   int64(cfg.MaxMessageSize),
			keepAlive: cfg.KeepAlive,
			upgrader: websocket.Upgrader{
				Subprotocols: protos,
				CheckOrigin:  originChecker(cfg.AllowOrigins),
			},
			log: log,
		}
		mux := http.NewServeMux()
		mux.Handle(path.Clean(cfg.Path), ws)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("router listener stopped", "url", l.url, "error", err)
			}
		}()
		l.close = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		}
	} else {
		rs := &rawSocketServer{router: nexus, sessions: reg, cfg: cfg, log: log}
		go rs.serve(ln)
		l.close = func() { _ = ln.Close() }
	}
	log.Info("router listening", "url", l.url, "serializers", cfg.Serializers)
	return l, nil
}

// rawSocketServer accepts RawSocket clients itself rather than through
// nexus's RawSocketServer, to wrap each peer for the session registry and
// to refuse serializers the listener does not offer.
type rawSocketServer struct {
	router   router.Router
	sessions *sessionRegistry
	cfg      *loader.Listener
	log      hclog.Logger
}

// rawSocketSerializers are the RawSocket handshake's serializer codes.
var rawSocketSerializers = map[byte]string{1: "json", 2: "msgpack", 3: "cbor"}

func (s *rawSocketServer) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return // closed
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			if s.cfg.KeepAlive > 0 {
				_ = tc.SetKeepAlive(true)
				_ = tc.SetKeepAlivePeriod(s.cfg.KeepAlive)
			} else {
				_ = tc.SetKeepAlive(false)
			}
		}
		go s.handle(conn)
	}
}

func (s *rawSocketServer) handle(conn net.Conn) {
	// Read the client's handshake to check its serializer, then hand it,
	// unread, to nexus. A slow client cannot hold a goroutine forever.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(conn, 16)
	hs, err := br.Peek(4)
	if err != nil {
		conn.Close()
		return
	}
	if ser, ok := rawSocketSerializers[hs[1]&0x0f]; hs[0] == 0x7f && (!ok || !slices.Contains(s.cfg.Serializers, ser)) {
		// Error 1: serializer unsupported.
		_, _ = conn.Write([]byte{0x7f, 0x10, 0, 0})
		conn.Close()
		s.log.Debug("rawsocket serializer refused", "remote", conn.RemoteAddr(), "code", hs[1]&0x0f)
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	peer, err := transport.AcceptRawSocket(&bufferedConn{Conn: conn, r: br}, s.router.Logger(), s.cfg.MaxMessageSize, outQueueSize)
	if err != nil {
		s.log.Debug("rawsocket handshake failed", "remote", conn.RemoteAddr(), "error", err)
		return
	}
	if err := s.router.Attach(s.sessions.wrap(peer)); err != nil {
		s.log.Debug("client not attached", "remote", conn.RemoteAddr(), "error", err)
	}
}

// bufferedConn reads through the reader that peeked at the handshake.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// wsHandler upgrades WebSocket connections itself instead of using nexus's
// WebsocketServer, because that sets no read limit: one client could make
// the daemon buffer an unbounded message (DESIGN.md decision 10). Past
// maxSize the connection is closed; other clients never notice.
type wsHandler struct {
	router    router.Router
	sessions  *sessionRegistry
	upgrader  websocket.Upgrader
	maxSize   int64
	keepAlive time.Duration
	log       hclog.Logger
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Refuse before upgrading when no offered serializer is wanted: a
	// client upgraded without a subprotocol may not cope (nexus's own
	// client crashes), while an HTTP error is understood by all.
	if !slices.ContainsFunc(websocket.Subprotocols(r), func(p string) bool { return slices.Contains(h.upgrader.Subprotocols, p) }) {
		http.Error(w, "no WAMP subprotocol this listener offers: "+strings.Join(h.upgrader.Subprotocols, ", "), http.StatusBadRequest)
		return
	}
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
			websocket.FormatCloseMessage(websocket.CloseProtocolError, "no WAMP subprotocol this listener offers ("+fmt.Sprint(h.upgrader.Subprotocols)+")"),
			time.Now().Add(time.Second))
		_ = conn.Close()
		return
	}
	if h.maxSize > 0 {
		conn.SetReadLimit(h.maxSize)
	}
	ser = &strictSerializer{Serializer: ser, close: func() { _ = conn.Close() }}
	peer := transport.NewWebsocketPeer(conn, ser, payload, h.router.Logger(), h.keepAlive, outQueueSize)
	if err := h.router.AttachClient(h.sessions.wrap(peer), nxwamp.Dict{"auth": nxwamp.Dict{}}); err != nil {
		h.log.Debug("client not attached", "remote", r.RemoteAddr, "error", err)
	}
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
