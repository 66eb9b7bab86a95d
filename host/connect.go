package host

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/loader"
)

// link is one joined session: the nexus client and the peer under it
// (peer.go). A component swaps in a new link when its connection to an
// external router is rebuilt.
type link struct {
	client *client.Client
	peer   *componentPeer
	local  bool // on the embedded router

	closeOnce sync.Once
	closeErr  error
}

// close leaves the realm (if the router is still there) and frees the
// transport. It waits for invocation handlers still running on the link.
// A link that a failed rejoin already closed may be closed again.
func (l *link) close() error {
	l.closeOnce.Do(func() {
		l.peer.abandonIfDone(l.client.Done())
		l.closeErr = l.client.Close()
	})
	return l.closeErr
}

func newLink(cl *client.Client, peer *componentPeer) *link {
	l := &link{client: cl, peer: peer}
	peer.mu.Lock()
	peer.link = l
	peer.mu.Unlock()
	return l
}

// register binds procedure to h on the session. Once the router has
// confirmed it, the peer runs its invocations; before that the client does.
func (l *link) register(procedure string, h invocationHandler, options nxwamp.Dict) error {
	err := l.client.Register(procedure, func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		l.peer.started(inv.Request)
		cc := newCallCtx(l)
		// The client's context ends on INTERRUPT or at the caller's timeout.
		stop := context.AfterFunc(ctx, func() { cc.cancel(ctx.Err()) })
		defer stop()
		return h(cc, inv)
	}, options)
	if err != nil {
		return err
	}
	if id, ok := l.client.RegistrationID(procedure); ok {
		l.peer.handle(id, h)
	}
	return nil
}

func (l *link) unregister(procedure string) error {
	if id, ok := l.client.RegistrationID(procedure); ok {
		l.peer.unhandle(id)
	}
	return l.client.Unregister(procedure)
}

// subscribe delivers topic's events to h, which must not block: it runs
// on the goroutine that reads the router.
func (l *link) subscribe(topic string, h client.EventHandler, options nxwamp.Dict) error {
	l.peer.expect(topic, h)
	if err := l.client.Subscribe(topic, h, options); err != nil {
		l.peer.unexpect(topic)
		return err
	}
	if id, ok := l.client.SubscriptionID(topic); ok {
		l.peer.deliver(id, h)
	}
	return nil
}

func (l *link) unsubscribe(topic string) error {
	if id, ok := l.client.SubscriptionID(topic); ok {
		l.peer.undeliver(id)
	}
	return l.client.Unsubscribe(topic)
}

// cl is the component's current client; nil before its first join.
func (c *component) cl() *client.Client {
	if l := c.link.Load(); l != nil {
		return l.client
	}
	return nil
}

// dial joins the component's realm on its router: the embedded one in
// process, or the connection it names over the network.
func (c *component) dial(ctx context.Context) (*link, error) {
	if c.config().Connection == nil {
		return c.dialEmbedded()
	}
	return dialNetwork(ctx, c.config().Connection, c.config().Realm, c.log)
}

func (c *component) dialEmbedded() (*link, error) {
	local, routerSide := transport.LinkedPeersQSize(1024)
	go func() {
		if err := c.h.router.nexus.Attach(routerSide); err != nil {
			c.log.Error("attach to router", "error", err)
		}
	}()
	peer := newComponentPeer(local, c.log)
	peer.publishID.Store(firstPublishID)
	cl, err := client.NewClient(peer, client.Config{
		Realm: c.config().Realm,
		// The router's guard finds the component's grants by authid.
		HelloDetails: nxwamp.Dict{"authid": c.name},
		Logger:       c.log.Named("session").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	})
	if err != nil {
		return nil, fmt.Errorf("joining realm %s: %w", c.config().Realm, err)
	}
	l := newLink(cl, peer)
	l.local = true
	return l, nil
}

// RefusedError is a router's ABORT in answer to HELLO or AUTHENTICATE:
// the router is there but will not have the session (wrong secret, no
// such realm, ...). URI is the router's reason, such as
// wamp.error.authentication_failed.
type RefusedError struct {
	Router  string
	URI     string
	Message string
}

func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("router %s refused the session", e.Router)
	for _, part := range []string{e.URI, e.Message} {
		if part != "" {
			msg += ": " + part
		}
	}
	return msg
}

// TLSError is a TLS handshake with an external router that failed for a
// reason a retry will not cure by itself: the router's certificate is not
// trusted or names another host, the port does not speak TLS, or the
// router refused the handshake (a client certificate it wants, say).
type TLSError struct {
	Router string
	URL    string
	Hint   string
	Err    error
}

func (e *TLSError) Error() string {
	msg := fmt.Sprintf("TLS handshake with router %s (%s) failed: %v", e.Router, e.URL, e.Err)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *TLSError) Unwrap() error { return e.Err }

// asTLSError recognises a TLS failure in a dial error. nexus's
// WebsocketError does not unwrap, so its cause is looked at directly.
func asTLSError(conn *loader.Connection, err error) *TLSError {
	cause := err
	var wsErr *transport.WebsocketError
	if errors.As(err, &wsErr) {
		cause = wsErr.Err
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	hint := ""
	switch {
	case errors.As(cause, &unknown):
		hint = "the router's certificate is not signed by a trusted CA: name the CA in the connection's tls { ca_file = ... }"
	case errors.As(cause, &hostname):
		hint = "the certificate names another host: fix the URL, or set tls { server_name = ... } to a name the certificate holds"
	case errors.As(cause, &invalid):
		hint = "the router's certificate is invalid (expired, or not for server use)"
	case errors.As(cause, &verify):
	case errors.As(cause, &record):
		hint = "the router does not speak TLS on this port: use ws:// or tcp://, or the router's TLS port"
	case errors.As(cause, &alert):
		hint = "the router refused the handshake; it may want a client certificate (tls { cert_file, key_file })"
	default:
		return nil
	}
	return &TLSError{Router: conn.Name, URL: conn.URL, Hint: hint, Err: cause}
}

func serialization(name string) serialize.Serialization {
	switch name {
	case "msgpack":
		return serialize.MSGPACK
	case "cbor":
		return serialize.CBOR
	}
	return serialize.JSON
}

// dialNetwork connects to an external router and joins realm there. The
// transport is created here, not by client.ConnectNet, so that it can be
// wrapped: the component's peer runs invocations (see peer.go), and the
// handshake watcher must see an ABORT's reason, which nexus's client drops.
func dialNetwork(ctx context.Context, conn *loader.Connection, realm string, log hclog.Logger) (*link, error) {
	u, err := url.Parse(conn.URL)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsConfig(conn, u)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", conn.Name, err)
	}
	if tlsCfg != nil && tlsCfg.InsecureSkipVerify {
		log.Warn("TLS verification is off for this connection (insecure_skip_verify): anyone on the path can impersonate the router", "connection", conn.Name)
	}
	auth, err := authConfig(conn.Auth)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", conn.Name, err)
	}
	stdlog := log.Named("transport").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})
	dctx, cancel := context.WithTimeout(ctx, conn.ConnectTimeout)
	defer cancel()
	ser := serialization(conn.Serializer)
	var p nxwamp.Peer
	switch u.Scheme {
	case "ws", "wss":
		p, err = transport.ConnectWebsocketPeer(dctx, conn.URL, ser, tlsCfg, stdlog, &transport.WebsocketConfig{KeepAlive: conn.KeepAlive})
	case "tcp", "tcps":
		p, err = transport.ConnectRawSocketPeer(dctx, "tcp", u.Host, ser, tlsCfg, stdlog, 0)
	case "unix":
		p, err = transport.ConnectRawSocketPeer(dctx, "unix", path.Clean(u.Host+u.Path), ser, nil, stdlog, 0)
	default:
		err = fmt.Errorf("unsupported URL scheme %q", u.Scheme)
	}
	if err != nil {
		if tlsCfg != nil {
			if terr := asTLSError(conn, err); terr != nil {
				return nil, terr
			}
		}
		return nil, fmt.Errorf("connect to %s (%s): %w", conn.Name, conn.URL, err)
	}
	peer := newComponentPeer(p, log)
	hs := &handshakeWatcher{Peer: peer}
	cl, err := client.NewClient(hs, client.Config{
		Realm:           realm,
		HelloDetails:    auth.details,
		AuthHandlers:    auth.handlers,
		ResponseTimeout: conn.ConnectTimeout,
		Logger:          log.Named("session").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	})
	if err != nil {
		if a, challenged := hs.outcome(); a != nil {
			msg, _ := nxwamp.AsString(a.Details[nxwamp.OptMessage])
			return nil, &RefusedError{Router: conn.Name, URI: string(a.Reason), Message: msg}
		} else if challenged {
			// A router may close the connection before its ABORT is
			// written (nexus discards a closing peer's queue): after an
			// AUTHENTICATE that is a refusal, not a network failure.
			return nil, &RefusedError{Router: conn.Name, Message: "the router closed the connection in answer to the authentication response, without an ABORT (" + err.Error() + ")"}
		}
		return nil, fmt.Errorf("join realm %s on %s: %w", realm, conn.Name, err)
	}
	return newLink(cl, peer), nil
}

// tlsConfig builds the client TLS settings; nil means plain TCP. Files are
// read at each dial, so that rotated certificates apply on reconnect.
func tlsConfig(conn *loader.Connection, u *url.URL) (*tls.Config, error) {
	if u.Scheme != "wss" && u.Scheme != "tcps" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.Scheme == "tcps" {
		// nexus takes the server name from the address otherwise, port
		// included only if the host has no colon: set it here.
		cfg.ServerName = u.Hostname()
	}
	t := conn.TLS
	if t == nil {
		return cfg, nil
	}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	cfg.InsecureSkipVerify = t.InsecureSkipVerify
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

type authSetup struct {
	details  nxwamp.Dict
	handlers map[string]client.AuthFunc
}

// authConfig turns a connection's auth block into HELLO details and
// challenge handlers. nexus has no cryptosign client, so the challenge is
// signed here, as Autobahn does: the hex of signature and challenge.
func authConfig(a loader.Auth) (authSetup, error) {
	s := authSetup{details: nxwamp.Dict{}, handlers: map[string]client.AuthFunc{}}
	if a.AuthID != "" {
		s.details["authid"] = a.AuthID
	}
	if a.AuthRole != "" {
		s.details["authrole"] = a.AuthRole
	}
	secret := string(a.Secret)
	switch a.Method {
	case "", "anonymous":
		s.handlers = nil
		s.details["authmethods"] = nxwamp.List{"anonymous"}
	case "ticket":
		s.handlers["ticket"] = func(*nxwamp.Challenge) (string, nxwamp.Dict) { return secret, nxwamp.Dict{} }
	case "wampcra":
		s.handlers["wampcra"] = func(ch *nxwamp.Challenge) (string, nxwamp.Dict) {
			return crsign.RespondChallenge(secret, ch, nil), nxwamp.Dict{}
		}
	case "cryptosign":
		priv, err := ed25519Key(secret)
		if err != nil {
			return s, err
		}
		pub := priv.Public().(ed25519.PublicKey)
		s.details["authextra"] = nxwamp.Dict{"pubkey": hex.EncodeToString(pub)}
		s.handlers["cryptosign"] = func(ch *nxwamp.Challenge) (string, nxwamp.Dict) {
			hexChal, _ := nxwamp.AsString(ch.Extra["challenge"])
			chal, err := hex.DecodeString(hexChal)
			if err != nil {
				return "", nxwamp.Dict{}
			}
			sig := ed25519.Sign(priv, chal)
			return hex.EncodeToString(append(sig, chal...)), nxwamp.Dict{}
		}
	default:
		return s, fmt.Errorf("unknown auth method %q", a.Method)
	}
	return s, nil
}

func ed25519Key(h string) (ed25519.PrivateKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return nil, errors.New("private_key is not hex")
	}
	switch len(b) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("private_key has %d bytes; want a 32-byte seed or a 64-byte key", len(b))
}

// handshakeWatcher hands the handshake's messages to the nexus client one
// at a time and keeps an ABORT, whose reason URI the client would drop.
// Once the session is welcomed it steps aside: the client reads the
// transport directly.
type handshakeWatcher struct {
	nxwamp.Peer
	joined     atomic.Bool
	mu         sync.Mutex
	aborted    *nxwamp.Abort
	challenged bool
}

func (h *handshakeWatcher) Recv() <-chan nxwamp.Message {
	if h.joined.Load() {
		return h.Peer.Recv()
	}
	out := make(chan nxwamp.Message, 1)
	go func() {
		msg, ok := <-h.Peer.Recv()
		if !ok {
			close(out)
			return
		}
		switch m := msg.(type) {
		case *nxwamp.Welcome:
			h.joined.Store(true)
		case *nxwamp.Abort:
			h.mu.Lock()
			h.aborted = m
			h.mu.Unlock()
		case *nxwamp.Challenge:
			h.mu.Lock()
			h.challenged = true
			h.mu.Unlock()
		}
		out <- msg
	}()
	return out
}

// outcome is the router's ABORT, if any, and whether it had challenged.
func (h *handshakeWatcher) outcome() (*nxwamp.Abort, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.aborted, h.challenged
}
