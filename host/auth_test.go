package host

import (
	"context"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/router/auth"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// authUser is one account of the test router's key store.
type authUser struct {
	role   string
	ticket string
	secret string // wampcra; with salt, the store keeps only the derived key
	salt   string
	pub    ed25519.PublicKey
}

type testKeyStore map[string]authUser

const (
	saltIters  = 100
	saltKeyLen = 32
)

func (ks testKeyStore) AuthKey(authid, method string) ([]byte, error) {
	u, ok := ks[authid]
	if !ok {
		return nil, errors.New("no such user")
	}
	switch method {
	case "ticket":
		return []byte(u.ticket), nil
	case "wampcra":
		if u.salt == "" {
			return []byte(u.secret), nil
		}
		dk, err := pbkdf2.Key(sha256.New, u.secret, []byte(u.salt), saltIters, saltKeyLen)
		if err != nil {
			return nil, err
		}
		return []byte(base64.StdEncoding.EncodeToString(dk)), nil
	case "cryptosign":
		return u.pub, nil
	}
	return nil, errors.New("unsupported method")
}

func (ks testKeyStore) PasswordInfo(authid string) (string, int, int) {
	if u := ks[authid]; u.salt != "" {
		return u.salt, saltKeyLen, saltIters
	}
	return "", 0, 0
}

func (ks testKeyStore) AuthRole(authid string) (string, error) {
	u, ok := ks[authid]
	if !ok {
		return "", errors.New("no such user")
	}
	return u.role, nil
}

func (ks testKeyStore) Provider() string { return "test" }

// startAuthRouter serves a nexus router with ticket, wampcra and
// cryptosign authenticators (and anonymous access for the test's own
// client) over a real WebSocket on loopback.
func startAuthRouter(t *testing.T, ks testKeyStore) string {
	t.Helper()
	r, err := router.NewRouter(&router.Config{RealmConfigs: []*router.RealmConfig{{
		URI: "realm1", AnonymousAuth: true, AllowDisclose: true,
		Authenticators: []auth.Authenticator{
			auth.NewTicketAuthenticator(ks, 5*time.Second),
			auth.NewCRAuthenticator(ks, 5*time.Second),
			auth.NewCryptoSignAuthenticator(ks, 5*time.Second),
		},
	}}}, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: router.NewWebsocketServer(r), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		r.Close()
	})
	return "ws://" + ln.Addr().String() + "/"
}

func TestExternalAuth(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	otherSeed := make([]byte, ed25519.SeedSize)
	for i := range otherSeed {
		otherSeed[i] = byte(200 - i)
	}
	ks := testKeyStore{
		"tix":    {role: "backend", ticket: "tick-3t-s3cret"},
		"cra":    {role: "backend", secret: "cra-s3cret-plain"},
		"salty":  {role: "backend", secret: "cra-s3cret-salted", salt: "salt123"},
		"signer": {role: "signer", pub: priv.Public().(ed25519.PublicKey)},
	}
	url := startAuthRouter(t, ks)

	cases := []struct {
		name, method, authid, role, attr, secret string
		ok                                       bool
	}{
		{"ticket", "ticket", "tix", "backend", "ticket", "tick-3t-s3cret", true},
		{"ticket/wrong", "ticket", "tix", "backend", "ticket", "tick-wr0ng-s3cret", false},
		{"wampcra", "wampcra", "cra", "backend", "secret", "cra-s3cret-plain", true},
		{"wampcra/wrong", "wampcra", "cra", "backend", "secret", "cra-wr0ng-s3cret", false},
		{"wampcra/salted", "wampcra", "salty", "backend", "secret", "cra-s3cret-salted", true},
		{"wampcra/salted/wrong", "wampcra", "salty", "backend", "secret", "cra-s3cret-plain", false},
		{"cryptosign", "cryptosign", "signer", "signer", "private_key", hex.EncodeToString(seed), true},
		{"cryptosign/wrong", "cryptosign", "signer", "signer", "private_key", hex.EncodeToString(otherSeed), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WAMPHOST_TEST_SECRET", tc.secret)
			conn := fmt.Sprintf(`connection "ext" {
  url = %q
  auth {
    method   = %q
    authid   = %q
    authrole = %q
    %s = env("WAMPHOST_TEST_SECRET")
  }
}
`, url, tc.method, tc.authid, tc.role, tc.attr)
			h, logs, err := startExt(t, conn, map[string]string{})
			if strings.Contains(logs.String(), tc.secret) || (err != nil && strings.Contains(err.Error(), tc.secret)) {
				t.Fatalf("the secret appears in the log or the error")
			}
			if !tc.ok {
				var refused *RefusedError
				// nexus's router sometimes closes the connection before
				// its ABORT is written; every attempt must be a refusal,
				// and the URI must be reported whenever it arrives.
				for attempt := 1; errors.As(err, &refused) && refused.URI == "" && attempt < 5; attempt++ {
					t.Logf("attempt %d: refused without a URI (ABORT lost by the router): %v", attempt, err)
					_, _, err = startExt(t, conn, map[string]string{})
				}
				if !errors.As(err, &refused) {
					t.Fatalf("start with a wrong secret: %v; want a RefusedError", err)
				}
				if refused.URI != string(nxwamp.ErrAuthenticationFailed) {
					t.Fatalf("refused with %q, want %s", refused.URI, nxwamp.ErrAuthenticationFailed)
				}
				if !strings.Contains(err.Error(), "wamp.error.authentication_failed") {
					t.Fatalf("error %q does not name the router's URI", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := connect(t, url, serialize.JSON)
			exercise(t, c)
			// The router knows the component's session by its credentials.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := c.Call(ctx, "wamp.registration.lookup", nil, nxwamp.List{"com.ext.add"}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err = c.Call(ctx, "wamp.registration.list_callees", nil, nxwamp.List{res.Arguments[0]}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids, _ := nxwamp.AsList(res.Arguments[0])
			if len(ids) != 1 {
				t.Fatalf("callees %v", res.Arguments)
			}
			res, err = c.Call(ctx, "wamp.session.get", nil, nxwamp.List{ids[0]}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := nxwamp.AsDict(res.Arguments[0])
			if d["authid"] != tc.authid || d["authrole"] != tc.role || d["authmethod"] != tc.method {
				t.Fatalf("the component's session is %v/%v/%v; want %s/%s/%s", d["authid"], d["authrole"], d["authmethod"], tc.authid, tc.role, tc.method)
			}
			_ = h
		})
	}
}
