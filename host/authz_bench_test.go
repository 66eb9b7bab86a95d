package host

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/router"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wamphost/wamphost/loader"
)

// benchRealm is a realm with a production-sized rule set: 20 roles of 20
// permissions each (8 exact, 7 prefix, 5 wildcard), the session's role
// being the last one declared. Every message is checked against all of
// its role's permissions, so the size of one role is what costs.
func benchRealm() *loader.Realm {
	r := &loader.Realm{Name: "realm1", AllowDisclose: true, ComponentsRole: "role19"}
	for i := range 20 {
		role := &loader.Role{Name: fmt.Sprintf("role%02d", i)}
		add := func(uri, match string, call, reg, pub, sub bool) {
			role.Permissions = append(role.Permissions, &loader.Permission{URI: uri, Match: match,
				Call: call, Register: reg, Publish: pub, Subscribe: sub})
		}
		for s := range 8 {
			add(fmt.Sprintf("com.example.svc%d.status", s), "exact", true, false, false, false)
		}
		for s := range 6 {
			add(fmt.Sprintf("com.example.svc%d.", s), "prefix", true, true, false, true)
		}
		add("com.example.admin.", "prefix", false, false, false, false)
		for s := range 5 {
			add(fmt.Sprintf("com.example..feed%d", s), "wildcard", false, false, true, true)
		}
		r.Roles = append(r.Roles, role)
	}
	return r
}

func benchGuard(r *loader.Realm) *guard {
	return newGuard(r, nil, newSessionRegistry(prometheus.NewGauge(prometheus.GaugeOpts{Name: "bench"})))
}

// BenchmarkAuthorize measures what the embedded router's authorizer adds
// to each CALL, REGISTER, PUBLISH and SUBSCRIBE.
//
// direct/* times guard.Authorize alone: "open" is a realm without roles
// (the check returns at once), the others a closed realm whose rules
// grant by an exact, a prefix and a wildcard permission, or grant nothing.
//
// call/* times a whole call through nexus between two in-process clients
// (CALL, INVOCATION, YIELD, RESULT): "noauthz" is a realm with no
// authorizer at all, "open" and "closed" the guard as wamphost installs
// it. Their difference is the authorizer's share of a real call.
func BenchmarkAuthorize(b *testing.B) {
	closed := benchGuard(benchRealm())
	open := benchGuard(&loader.Realm{Name: "realm1"})
	sess := &nxwamp.Session{ID: 1, Details: nxwamp.Dict{"authid": "joe", "authrole": "role19", "authprovider": "static"}}
	cases := []struct {
		name  string
		g     *guard
		msg   func() nxwamp.Message
		allow bool
	}{
		{"open", open, func() nxwamp.Message { return &nxwamp.Call{Procedure: "com.example.svc3.status"} }, true},
		{"exact", closed, func() nxwamp.Message { return &nxwamp.Call{Procedure: "com.example.svc7.status"} }, true},
		{"prefix", closed, func() nxwamp.Message { return &nxwamp.Call{Procedure: "com.example.svc5.orders.list"} }, true},
		{"wildcard", closed, func() nxwamp.Message { return &nxwamp.Publish{Topic: "com.example.eu.feed4"} }, true},
		{"denied", closed, func() nxwamp.Message { return &nxwamp.Call{Procedure: "com.example.admin.kill"} }, false},
	}
	for _, c := range cases {
		b.Run("direct/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			msg := c.msg()
			for b.Loop() {
				if ok, _ := c.g.Authorize(sess, msg); ok != c.allow {
					b.Fatalf("Authorize = %v, want %v", ok, c.allow)
				}
			}
		})
	}

	realms := []struct {
		name string
		rc   *router.RealmConfig
	}{
		{"noauthz", &router.RealmConfig{URI: "realm1", AnonymousAuth: true}},
		{"open", open.realmConfig(&loader.Realm{Name: "realm1"})},
		{"closed", closed.realmConfig(benchRealm())},
	}
	for _, rl := range realms {
		b.Run("call/"+rl.name, func(b *testing.B) {
			b.ReportAllocs()
			nx, err := router.NewRouter(&router.Config{RealmConfigs: []*router.RealmConfig{rl.rc}},
				hclog.NewNullLogger().StandardLogger(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer nx.Close()
			connect := func(authid string) *client.Client {
				c, err := client.ConnectLocal(nx, client.Config{Realm: "realm1", HelloDetails: nxwamp.Dict{"authid": authid},
					ResponseTimeout: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				return c
			}
			callee, caller := connect("callee"), connect("caller")
			defer callee.Close()
			defer caller.Close()
			if err := callee.Register("com.example.svc5.add2", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
				x, _ := nxwamp.AsInt64(inv.Arguments[0])
				y, _ := nxwamp.AsInt64(inv.Arguments[1])
				return client.InvokeResult{Args: nxwamp.List{x + y}}
			}, nil); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			args := nxwamp.List{2, 3}
			for b.Loop() {
				res, err := caller.Call(ctx, "com.example.svc5.add2", nil, args, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 5 {
					b.Fatalf("add2(2, 3) = %v", res.Arguments)
				}
			}
		})
	}
}

// TestWildcardMatch holds the allocation-free wildcard matcher to WAMP's
// rule, written here the plain way: as many components as the pattern,
// and each non-empty pattern component equal.
func TestWildcardMatch(t *testing.T) {
	reference := func(pattern, uri string) bool {
		ps, us := strings.Split(pattern, "."), strings.Split(uri, ".")
		if len(ps) != len(us) {
			return false
		}
		for i := range ps {
			if ps[i] != "" && ps[i] != us[i] {
				return false
			}
		}
		return true
	}
	patterns := []string{"", ".", "a", "a.", ".a", "a..c", "a.b.c", "..", "com.example..feed1", "a...d"}
	uris := []string{"", ".", "..", "...", "a", "b", "a.", ".a", "a.b", "a.b.c", "a..c", "a.x.c", "a.b.c.d", "a.b.c.",
		"com.example.eu.feed1", "com.example.eu.feed10", "com.example.feed1", "com.example.eu.x.feed1", "a.b.c.d.e"}
	for _, pat := range patterns {
		p := compilePerm(pat, "wildcard")
		for _, uri := range uris {
			if got, want := p.matches(uri), reference(pat, uri); got != want {
				t.Errorf("wildcard %q matches %q = %v, want %v", pat, uri, got, want)
			}
		}
	}
}
