package host

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
	"github.com/hashicorp/go-hclog"

	"github.com/wamphost/wamphost/internal/e2e"
	"github.com/wamphost/wamphost/loader"
)

// These tests run the embedded router with real nexus clients over real
// sockets: every transport, serializer and authentication method, and the
// permission checks as a client sees them.

const calcScript = `package calc

import (
	"context"

	"github.com/wamphost/wamphost/wamp"
)

var session wamp.Session

func OnJoin(ctx context.Context, s wamp.Session) error {
	session = s
	return nil
}

func Add2(x, y int) int { return x + y }

func Secret() string { return "hidden" }

// TryRegister registers a URI the component's block does not declare.
func TryRegister(ctx context.Context) string {
	err := session.Register("com.test.undeclared", func() int { return 1 }, wamp.RegisterOptions{})
	if err != nil {
		return err.Error()
	}
	return "registered"
}

// TryMeta calls a router meta procedure.
func TryMeta(ctx context.Context) string {
	_, err := session.Call(ctx, "wamp.session.count")
	if err != nil {
		return err.Error()
	}
	return "called"
}
`

const calcComponent = `
component "calc" {
  source = "calc"
  realm  = "realm1"
  register "com.test.add2" { handler = "Add2" }
  register "com.test.secret" { handler = "Secret" }
  register "com.test.tryregister" { handler = "TryRegister" }
  register "com.test.trymeta" { handler = "TryMeta" }
}
`

type testHost struct {
	*Host
	dir string
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadConfig(t *testing.T, dir, src string) *loader.Config {
	t.Helper()
	path := filepath.Join(dir, "components.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, ds := loader.Load(path)
	if ds.HasErrors() {
		t.Fatalf("config:\n%s", ds.Error())
	}
	return cfg
}

// startRouterHost runs src (a components.hcl) from dir with the calc component's
// script in place.
func startRouterHost(t *testing.T, dir, src string) *testHost {
	t.Helper()
	writeFiles(t, dir, map[string]string{"calc/calc.go": calcScript})
	cfg := loadConfig(t, dir, src)
	buf := &syncBuffer{}
	h := New(cfg, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug})})
	if err := h.Start(context.Background()); err != nil {
		t.Fatalf("start: %v\n%s", err, buf.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
		if t.Failed() {
			t.Logf("host log:\n%s", buf.String())
		}
	})
	return &testHost{Host: h, dir: dir, log: buf}
}

func (h *testHost) url(t *testing.T, prefix string) string {
	t.Helper()
	for _, u := range h.URLs() {
		if strings.HasPrefix(u, prefix) {
			return u
		}
	}
	t.Fatalf("no listener URL starting with %s in %v", prefix, h.URLs())
	return ""
}

func dial(url string, cfg client.Config) (*client.Client, error) {
	if cfg.Realm == "" {
		cfg.Realm = "realm1"
	}
	cfg.ResponseTimeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.ConnectNet(ctx, url, cfg)
}

func mustDial(t *testing.T, url string, cfg client.Config) *client.Client {
	t.Helper()
	c, err := dial(url, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func call(c *client.Client, proc string, args ...any) (*nxwamp.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Call(ctx, proc, nil, nxwamp.List(args), nil, nil)
}

func wantSum(t *testing.T, c *client.Client) {
	t.Helper()
	res, err := call(c, "com.test.add2", 2, 3)
	if err != nil {
		t.Fatalf("call com.test.add2: %v", err)
	}
	if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 5 {
		t.Fatalf("com.test.add2(2, 3) = %v, want 5", res.Arguments)
	}
}

func wantURI(t *testing.T, err error, uri nxwamp.URI) {
	t.Helper()
	var rerr client.RPCError
	if err == nil {
		t.Fatalf("got no error, want %s", uri)
	}
	if asRPCError(err, &rerr) {
		if rerr.Err.Error != uri {
			t.Fatalf("got %v, want %s", err, uri)
		}
		return
	}
	// nexus's client reports refused registrations, subscriptions and
	// publications as text ending in the error URI.
	if !strings.HasSuffix(err.Error(), ": "+string(uri)) {
		t.Fatalf("got %v, want %s", err, uri)
	}
}

func asRPCError(err error, out *client.RPCError) bool {
	switch e := err.(type) {
	case client.RPCError:
		*out = e
		return true
	case *client.RPCError:
		*out = *e
		return true
	}
	return false
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns a pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wamphost test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"tls/cert.pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"tls/key.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})),
	})
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

var serializations = map[string]serialize.Serialization{
	"json": serialize.JSON, "msgpack": serialize.MSGPACK, "cbor": serialize.CBOR,
}

// shortDir is a temporary directory with a path short enough for a Unix
// socket (108 bytes at most), which t.TempDir's may exceed.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestListeners serves one component on every kind of listener and calls
// it through each with each serializer.
func TestListeners(t *testing.T) {
	dir := shortDir(t)
	pool := selfSigned(t, dir)
	h := startRouterHost(t, dir, `
router {
  listener "websocket" { address = "127.0.0.1:0" }
  listener "rawsocket" { address = "127.0.0.1:0" }
  listener "rawsocket" { address = "./wamp.sock" }
  listener "websocket" {
    address = "127.0.0.1:0"
    path    = "/secure"
    tls {
      cert_file = "tls/cert.pem"
      key_file  = "tls/key.pem"
    }
  }
  listener "rawsocket" {
    address = "127.0.0.1:0"
    tls {
      cert_file = "tls/cert.pem"
      key_file  = "tls/key.pem"
    }
  }
  realm "realm1" {}
}
`+calcComponent)
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	urls := map[string]client.Config{
		h.url(t, "ws://"):   {},
		h.url(t, "tcp://"):  {},
		h.url(t, "unix://"): {},
		h.url(t, "wss://"):  {TlsCfg: tlsCfg},
		h.url(t, "tcps://"): {TlsCfg: tlsCfg},
	}
	if u := h.url(t, "unix://"); u != "unix://"+filepath.Join(dir, "wamp.sock") {
		t.Errorf("unix listener at %s, want it beside the config", u)
	}
	for url, cfg := range urls {
		for name, ser := range serializations {
			t.Run(strings.SplitN(url, ":", 2)[0]+"/"+name, func(t *testing.T) {
				cfg := cfg
				cfg.Serialization = ser
				wantSum(t, mustDial(t, url, cfg))
			})
		}
	}
	t.Run("untrusted certificate", func(t *testing.T) {
		if c, err := dial(h.url(t, "wss://"), client.Config{TlsCfg: &tls.Config{ServerName: "127.0.0.1"}}); err == nil {
			c.Close()
			t.Fatal("a client that does not trust the certificate connected")
		}
	})
	t.Run("plain client on TLS listener", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.url(t, "tcps://"), "tcps://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// A RawSocket handshake, plus a byte to complete what TLS reads
		// as a record header, so the server answers instead of waiting.
		_, _ = conn.Write([]byte{0x7f, 0xf1, 0, 0, 0})
		reply := make([]byte, 4)
		if _, err := io.ReadFull(conn, reply); err == nil && reply[0] == 0x7f {
			t.Fatalf("a TLS listener answered a plain RawSocket handshake: %x", reply)
		}
	})
}

// TestListenerSerializers: a listener refuses serializers it does not
// offer, on both transports.
func TestListenerSerializers(t *testing.T) {
	h := startRouterHost(t, t.TempDir(), `
router {
  listener "websocket" {
    address     = "127.0.0.1:0"
    serializers = ["cbor"]
  }
  listener "rawsocket" {
    address     = "127.0.0.1:0"
    serializers = ["msgpack"]
  }
  realm "realm1" {}
}
`+calcComponent)
	for url, offered := range map[string]string{h.url(t, "ws://"): "cbor", h.url(t, "tcp://"): "msgpack"} {
		for name, ser := range serializations {
			c, err := dial(url, client.Config{Serialization: ser})
			if name == offered {
				if err != nil {
					t.Errorf("%s %s: %v", url, name, err)
					continue
				}
				wantSum(t, c)
				c.Close()
			} else if err == nil {
				c.Close()
				t.Errorf("%s accepted %s; it offers only %s", url, name, offered)
			}
		}
	}
}

// TestMaxMessageSizeRawSocket: a RawSocket client that sends more than
// max_message_size, ignoring the limit the handshake told it, is cut off;
// the next client is served.
func TestMaxMessageSizeRawSocket(t *testing.T) {
	h := startRouterHost(t, t.TempDir(), `
router {
  listener "rawsocket" {
    address          = "127.0.0.1:0"
    max_message_size = 4096
  }
  realm "realm1" {}
}
`+calcComponent)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url(t, "tcp://"), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte{0x7f, 0xf1, 0, 0}); err != nil { // 16 MiB, JSON
		t.Fatal(err)
	}
	hs := make([]byte, 4)
	if _, err := io.ReadFull(conn, hs); err != nil || hs[0] != 0x7f {
		t.Fatalf("handshake reply %x: %v", hs, err)
	}
	if got := 1 << (9 + hs[1]>>4); got < 4096 || got > 8192 {
		t.Errorf("the router announced a %d-byte limit for max_message_size = 4096", got)
	}
	payload := []byte(`[1,"realm1",{"roles":{"caller":{}},"pad":"` + strings.Repeat("x", 10000) + `"}]`)
	n := len(payload)
	_, _ = conn.Write(append([]byte{0, byte(n >> 16), byte(n >> 8), byte(n)}, payload...))
	// EOF or a reset both mean the router hung up; a timeout means it
	// did not.
	if _, err := io.ReadAll(conn); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the router did not close an oversized client's connection: %v", err)
		}
	}
	wantSum(t, mustDial(t, h.url(t, "tcp://"), client.Config{}))
}

const authRealm = `
router {
  listener "websocket" { address = "127.0.0.1:0" }
  listener "rawsocket" { address = "127.0.0.1:0" }

  realm "realm1" {
    role "frontend" {
      permission {
        uri   = "com.test."
        match = "prefix"
        call  = true
      }
      permission {
        uri  = "com.test.secret"
        call = false
      }
      permission {
        uri       = "com.test.feed"
        subscribe = true
      }
      permission {
        uri             = "com.backend.who"
        call            = true
        disclose_caller = true
      }
    }
    role "backend" {
      permission {
        uri       = ""
        match     = "prefix"
        call      = true
        register  = true
        publish   = true
        subscribe = true
      }
    }
    principal "joe" {
      method = "ticket"
      secret = env("WAMPHOST_TEST_TICKET")
      role   = "frontend"
    }
    principal "cra" {
      method = "wampcra"
      secret = file("cra.secret")
      role   = "frontend"
    }
    principal "salty" {
      method     = "wampcra"
      # derive_key("s4lted-pw", "salt123", 100, 16), as Crossbar.io keeps it
      secret     = "B5esojdp7IRYlsasQLxLhA=="
      salt       = "salt123"
      iterations = 100
      keylen     = 16
      role       = "frontend"
    }
    principal "signer" {
      method      = "cryptosign"
      public_keys = [%q]
      role        = "backend"
    }
  }
}
`

type authFixture struct {
	h      *testHost
	signer ed25519.PrivateKey
}

func startAuth(t *testing.T, extraRealm string) *authFixture {
	t.Helper()
	t.Setenv("WAMPHOST_TEST_TICKET", "tick3t")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"cra.secret": "cr4-secret\n"})
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(authRealm, "%q", `"`+hex.EncodeToString(pub)+`"`, 1)
	src = strings.Replace(src, `  realm "realm1" {`, `  realm "realm1" {`+extraRealm, 1)
	return &authFixture{h: startRouterHost(t, dir, src+calcComponent), signer: priv}
}

func ticketCfg(authid, ticket string) client.Config {
	return client.Config{
		HelloDetails: nxwamp.Dict{"authid": authid},
		AuthHandlers: map[string]client.AuthFunc{"ticket": func(*nxwamp.Challenge) (string, nxwamp.Dict) { return ticket, nxwamp.Dict{} }},
	}
}

func craCfg(authid, secret string) client.Config {
	return client.Config{
		HelloDetails: nxwamp.Dict{"authid": authid},
		AuthHandlers: map[string]client.AuthFunc{"wampcra": func(c *nxwamp.Challenge) (string, nxwamp.Dict) {
			return crsign.RespondChallenge(secret, c, nil), nxwamp.Dict{}
		}},
	}
}

func cryptosignCfg(authid string, key ed25519.PrivateKey) client.Config {
	pub := key.Public().(ed25519.PublicKey)
	return client.Config{
		HelloDetails: nxwamp.Dict{"authid": authid, "authextra": nxwamp.Dict{"pubkey": hex.EncodeToString(pub)}},
		AuthHandlers: map[string]client.AuthFunc{"cryptosign": func(c *nxwamp.Challenge) (string, nxwamp.Dict) {
			challenge, _ := hex.DecodeString(c.Extra["challenge"].(string))
			// nexus expects the signature followed by the message, as
			// NaCl's sign does.
			sig := append(ed25519.Sign(key, challenge), challenge...)
			return hex.EncodeToString(sig), nxwamp.Dict{}
		}},
	}
}

// TestAuthentication connects with each method, right and wrong, over
// WebSocket and RawSocket.
func TestAuthentication(t *testing.T) {
	f := startAuth(t, "")
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		cfg  client.Config
		ok   bool
	}{
		{"ticket", ticketCfg("joe", "tick3t"), true},
		{"ticket wrong secret", ticketCfg("joe", "tick3t-not"), false},
		{"ticket unknown authid", ticketCfg("nobody", "tick3t"), false},
		{"ticket as wampcra principal", ticketCfg("cra", "cr4-secret"), false},
		{"wampcra", craCfg("cra", "cr4-secret"), true},
		{"wampcra wrong secret", craCfg("cra", "guess"), false},
		{"wampcra as ticket principal", craCfg("joe", "tick3t"), false},
		{"wampcra salted", craCfg("salty", "s4lted-pw"), true},
		{"wampcra salted wrong password", craCfg("salty", "s4lted-px"), false},
		{"cryptosign", cryptosignCfg("signer", f.signer), true},
		{"cryptosign unknown key", cryptosignCfg("signer", stranger), false},
		{"anonymous refused", client.Config{}, false},
	}
	for _, prefix := range []string{"ws://", "tcp://"} {
		for _, tc := range cases {
			t.Run(prefix+tc.name, func(t *testing.T) {
				c, err := dial(f.h.url(t, prefix), tc.cfg)
				if !tc.ok {
					if err == nil {
						c.Close()
						t.Fatal("connected")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				wantSum(t, c)
			})
		}
	}
}

// TestPermissions: each action a role lacks is refused with
// wamp.error.not_authorized, and the longest match wins.
func TestPermissions(t *testing.T) {
	f := startAuth(t, "")
	joe := mustDial(t, f.h.url(t, "ws://"), ticketCfg("joe", "tick3t"))
	wantSum(t, joe) // prefix com.test. allows the call
	_, err := call(joe, "com.test.secret")
	wantURI(t, err, nxwamp.ErrNotAuthorized) // the exact, longer match denies it
	_, err = call(joe, "org.other.proc")
	wantURI(t, err, nxwamp.ErrNotAuthorized) // nothing matches
	err = joe.Register("com.test.mine", func(context.Context, *nxwamp.Invocation) client.InvokeResult { return client.InvokeResult{} }, nil)
	wantURI(t, err, nxwamp.ErrNotAuthorized)
	err = joe.Subscribe("com.test.other", func(*nxwamp.Event) {}, nil)
	wantURI(t, err, nxwamp.ErrNotAuthorized)
	if err := joe.Subscribe("com.test.feed", func(*nxwamp.Event) {}, nil); err != nil {
		t.Fatalf("subscribe to a permitted topic: %v", err)
	}
	err = joe.Publish("com.test.feed", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nil, nil)
	wantURI(t, err, nxwamp.ErrNotAuthorized)

	signer := mustDial(t, f.h.url(t, "tcp://"), cryptosignCfg("signer", f.signer))
	if err := signer.Register("com.backend.proc", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{"ok"}}
	}, nil); err != nil {
		t.Fatalf("backend register: %v", err)
	}
	if err := signer.Publish("com.test.feed", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nil, nil); err != nil {
		t.Fatalf("backend publish: %v", err)
	}

	// disclose_caller: the callee learns who called without the caller
	// asking.
	if err := signer.Register("com.backend.who", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{inv.Details["caller_authid"], inv.Details["caller_authrole"]}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := call(joe, "com.backend.who")
	if err != nil {
		t.Fatal(err)
	}
	if res.Arguments[0] != "joe" || res.Arguments[1] != "frontend" {
		t.Fatalf("callee saw caller %v, want joe/frontend", res.Arguments)
	}
}

// TestComponentsRole: by default a component in a realm with roles may
// register only what its block declares and may not call the router's
// wamp. procedures; components_role names a role that widens that.
func TestComponentsRole(t *testing.T) {
	f := startAuth(t, "")
	c := mustDial(t, f.h.url(t, "ws://"), cryptosignCfg("signer", f.signer))
	for proc, want := range map[string]string{"com.test.tryregister": "not_authorized", "com.test.trymeta": "not_authorized"} {
		res, err := call(c, proc)
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		if s, _ := res.Arguments[0].(string); !strings.Contains(s, want) {
			t.Errorf("%s = %q, want an error containing %s", proc, s, want)
		}
	}

	g := startAuth(t, "\n    components_role = \"backend\"\n")
	c = mustDial(t, g.h.url(t, "ws://"), cryptosignCfg("signer", g.signer))
	for proc, want := range map[string]string{"com.test.tryregister": "registered", "com.test.trymeta": "called"} {
		res, err := call(c, proc)
		if err != nil {
			t.Fatalf("%s: %v", proc, err)
		}
		if s, _ := res.Arguments[0].(string); s != want {
			t.Errorf("with components_role = backend, %s = %q, want %q", proc, s, want)
		}
	}
}

// TestReloadPermissions changes a role's permission and removes a
// principal while clients stay connected: the permitted client keeps its
// session and sees the new rule at once; the removed one is dropped.
func TestReloadPermissions(t *testing.T) {
	f := startAuth(t, "")
	joe := mustDial(t, f.h.url(t, "ws://"), ticketCfg("joe", "tick3t"))
	cra := mustDial(t, f.h.url(t, "tcp://"), craCfg("cra", "cr4-secret"))
	wantSum(t, joe)
	_, err := call(joe, "com.test.secret")
	wantURI(t, err, nxwamp.ErrNotAuthorized)

	cfgPath := filepath.Join(f.h.dir, "components.hcl")
	src, _ := os.ReadFile(cfgPath)
	next := strings.Replace(string(src), "call = false", "call = true", 1)
	// Remove principal "cra".
	start := strings.Index(next, `    principal "cra" {`)
	end := start + strings.Index(next[start:], "    }\n") + len("    }\n")
	next = next[:start] + next[end:]
	rep, err := f.h.Reload(context.Background(), loadConfig(t, f.h.dir, next))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	for _, d := range rep.Diagnostics {
		t.Errorf("unexpected reload diagnostic: %s: %s", d.Summary, d.Detail)
	}
	res, err := call(joe, "com.test.secret")
	if err != nil {
		t.Fatalf("after the reload allowed it: %v", err)
	}
	if res.Arguments[0] != "hidden" {
		t.Fatalf("com.test.secret = %v", res.Arguments)
	}
	select {
	case <-cra.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the session of a removed principal is still connected")
	}
	if c, err := dial(f.h.url(t, "tcp://"), craCfg("cra", "cr4-secret")); err == nil {
		c.Close()
		t.Fatal("a removed principal authenticated")
	}
	select {
	case <-joe.Done():
		t.Fatal("a still-permitted session was dropped")
	default:
	}
}

// TestAnonymousRole: anonymous = "role" admits clients without
// credentials under that role.
func TestAnonymousRole(t *testing.T) {
	f := startAuth(t, "\n    anonymous = \"frontend\"\n")
	c := mustDial(t, f.h.url(t, "ws://"), client.Config{})
	wantSum(t, c)
	_, err := call(c, "com.test.secret")
	wantURI(t, err, nxwamp.ErrNotAuthorized)
}

// TestEventHistory: the router keeps the configured topic's last events
// and returns them from wamp.subscription.get_events.
func TestEventHistory(t *testing.T) {
	h := startRouterHost(t, t.TempDir(), `
router {
  listen = "127.0.0.1:0"
  realm "realm1" {
    event_history {
      topic = "com.test.hist"
      limit = 2
    }
  }
}
`+calcComponent)
	c := mustDial(t, h.url(t, "ws://"), client.Config{})
	got := make(chan struct{}, 3)
	if err := c.Subscribe("com.test.hist", func(*nxwamp.Event) { got <- struct{}{} }, nil); err != nil {
		t.Fatal(err)
	}
	pub := mustDial(t, h.url(t, "ws://"), client.Config{})
	for i := 1; i <= 3; i++ {
		if err := pub.Publish("com.test.hist", nxwamp.Dict{nxwamp.OptAcknowledge: true}, nxwamp.List{i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("events not delivered")
		}
	}
	res, err := call(c, "wamp.subscription.lookup", "com.test.hist")
	if err != nil {
		t.Fatal(err)
	}
	res, err = call(c, string(nxwamp.MetaProcEventHistory), res.Arguments[0])
	if err != nil {
		t.Fatal(err)
	}
	events, _ := nxwamp.AsList(res.Arguments)
	if len(events) != 2 {
		t.Fatalf("history holds %d events, want the last 2: %v", len(events), res.Arguments)
	}
}

// TestAutobahnPythonAuth authenticates Autobahn|Python, the client most
// users come from, with ticket and WAMP-CRA, right and wrong, over each
// serializer the two share.
func TestAutobahnPythonAuth(t *testing.T) {
	py := e2e.Python(t)
	f := startAuth(t, "")
	url := f.h.url(t, "ws://")
	cases := []struct{ authid, method, secret, want string }{
		{"joe", "ticket", "tick3t", "result 5 frontend"},
		{"joe", "ticket", "wrong", "refused wamp.error.authentication_failed"},
		{"cra", "wampcra", "cr4-secret", "result 5 frontend"},
		{"cra", "wampcra", "wrong", "refused wamp.error.authentication_failed"},
		{"joe", "wampcra", "tick3t", "refused wamp.error.authentication_failed"},
		{"salty", "wampcra", "s4lted-pw", "result 5 frontend"},
		{"salty", "wampcra", "s4lted-px", "refused wamp.error.authentication_failed"},
	}
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		for _, tc := range cases {
			t.Run(ser+"/"+tc.method+"/"+tc.authid+"/"+tc.secret, func(t *testing.T) {
				// Every refusal must reach the client as an ABORT with its
				// reason (nexus alone often closed the connection first;
				// trackedPeer.Close lets the ABORT out).
				cmd := exec.Command(py, "-u", filepath.Join("testdata", "auth_client.py"), url, "realm1", ser, tc.authid, tc.method, tc.secret)
				p := e2e.StartProc(t, cmd)
				code := p.Wait(45 * time.Second)
				got := strings.Join(p.Lines(), "\n")
				if code != 0 {
					t.Fatalf("client exited %d\nstdout:\n%s\nstderr:\n%s", code, got, p.Stderr())
				}
				if !strings.Contains(got, tc.want) {
					t.Fatalf("client printed %q, want %q\nstderr:\n%s", got, tc.want, p.Stderr())
				}
			})
		}
	}
}

// TestAutobahnPythonCryptosign authenticates Autobahn|Python with
// WAMP-cryptosign (its CryptosignKey, PyNaCl underneath) against the
// principal "signer" over each serializer, and checks that the router
// admitted it as signer/backend: in its WELCOME, and as a callee sees it.
// A key the principal does not list, a signature by another key than the
// one claimed, and a cryptosign client naming a ticket principal are all
// refused with wamp.error.authentication_failed.
func TestAutobahnPythonCryptosign(t *testing.T) {
	py := e2e.Python(t)
	f := startAuth(t, "")
	url := f.h.url(t, "ws://")
	backend := mustDial(t, url, cryptosignCfg("signer", f.signer))
	if err := backend.Register("com.backend.who", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		authid, _ := inv.Details["caller_authid"].(string)
		role, _ := inv.Details["caller_authrole"].(string)
		return client.InvokeResult{Args: nxwamp.List{authid + " " + role}}
	}, nxwamp.Dict{nxwamp.OptDiscloseCaller: true}); err != nil {
		t.Fatal(err)
	}
	seed := hex.EncodeToString(f.signer.Seed())
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	strangerSeed := hex.EncodeToString(stranger.Seed())
	authorized := hex.EncodeToString(f.signer.Public().(ed25519.PublicKey))
	const refused = "refused wamp.error.authentication_failed"
	type tc struct {
		name string
		args []string // AUTHID SEED [PUBKEY]
		want []string
	}
	admitted := []string{"joined signer backend", "result 5", "who signer backend"}
	var cases []tc
	for _, ser := range []string{"json", "msgpack", "cbor"} {
		cases = append(cases, tc{ser + "/authorized key", []string{ser, "signer", seed}, admitted})
	}
	cases = append(cases,
		tc{"json/unlisted key", []string{"json", "signer", strangerSeed}, []string{refused}},
		tc{"json/claims the listed key, signs with another", []string{"json", "signer", strangerSeed, authorized}, []string{refused}},
		tc{"json/ticket principal", []string{"json", "joe", seed}, []string{refused}},
		tc{"json/unknown authid", []string{"json", "nobody", seed}, []string{refused}},
	)
	script, _ := filepath.Abs(filepath.Join("testdata", "cryptosign_client.py"))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-u", script, url, "realm1"}, c.args...)
			p := e2e.StartProc(t, exec.Command(py, args...))
			if code := p.Wait(45 * time.Second); code != 0 {
				t.Fatalf("client exited %d\nstdout:\n%s\nstderr:\n%s", code, strings.Join(p.Lines(), "\n"), p.Stderr())
			}
			if got := p.Lines(); !slices.Equal(got, c.want) {
				t.Fatalf("client printed %q, want %q\nstderr:\n%s", got, c.want, p.Stderr())
			}
		})
	}
}

// TestReloadWarnsRestartOptions: options nexus fixes at realm creation,
// and listeners, are reported as needing a restart, and the realm keeps
// serving with its running options.
func TestReloadWarnsRestartOptions(t *testing.T) {
	dir := t.TempDir()
	src := `
router {
  listener "websocket" { address = "127.0.0.1:0" }
  realm "realm1" {}
}
` + calcComponent
	h := startRouterHost(t, dir, src)
	c := mustDial(t, h.url(t, "ws://"), client.Config{})
	next := strings.Replace(src, `realm "realm1" {}`, `realm "realm1" {
    strict_uri = true
    event_history {
      topic = "com.test.t"
    }
  }`, 1)
	next = strings.Replace(next, `listener "websocket" { address = "127.0.0.1:0" }`, `listener "websocket" {
    address   = "127.0.0.1:0"
    keepalive = "10s"
  }`, 1)
	rep, err := h.Reload(context.Background(), loadConfig(t, dir, next))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rep.Diagnostics {
		got = append(got, d.Summary+": "+d.Detail)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"listeners changed", "realm realm1: strict_uri, event_history changed"} {
		if !strings.Contains(all, want) {
			t.Errorf("reload diagnostics lack %q:\n%s", want, all)
		}
	}
	wantSum(t, c)
	// Reloading the same file again warns again: the running options
	// have not changed.
	rep, err = h.Reload(context.Background(), loadConfig(t, dir, next))
	if err != nil || len(rep.Diagnostics) != 2 {
		t.Fatalf("second reload: %v, %d diagnostics", err, len(rep.Diagnostics))
	}
}
