package host

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/router/auth"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wamphost/wamphost/loader"
)

// The embedded router's security lives here. Each realm has one guard,
// installed in nexus as the realm's Authorizer and behind each of its
// authenticators. nexus fixes both when the realm is created, so the guard
// reads its rules from an atomic pointer: a reload swaps the pointer and
// the next HELLO or message sees the new rules, without a restart.

// componentProvider marks the sessions of the daemon's own components, so
// that their role follows the config even across a reload.
const componentProvider = "wamphost"

// authTimeout bounds how long a client may take to answer a challenge.
const authTimeout = 30 * time.Second

type action int

const (
	actCall action = iota
	actRegister
	actPublish
	actSubscribe
)

// perm is one compiled permission.
type perm struct {
	uri   string
	match string
	parts []string // wildcard only
	rank  int
	allow [4]bool
	// discloseCaller and disclosePublisher force disclosure of the
	// acting session.
	discloseCaller, disclosePublisher bool
}

func (p *perm) matches(uri string) bool {
	switch p.match {
	case "exact":
		return uri == p.uri
	case "prefix":
		return strings.HasPrefix(uri, p.uri)
	}
	// Component by component without splitting uri: every message is
	// checked against every wildcard of the session's role, and a split
	// per check was most of the authorizer's cost (BenchmarkAuthorize).
	for i, want := range p.parts {
		if i > 0 {
			if uri == "" || uri[0] != '.' {
				return false // fewer components than the pattern
			}
			uri = uri[1:]
		}
		part := uri
		if dot := strings.IndexByte(uri, '.'); dot >= 0 {
			part = uri[:dot]
		}
		if want != "" && want != part {
			return false
		}
		uri = uri[len(part):]
	}
	return uri == "" // a longer URI has a dot left
}

// rank orders matching permissions: an exact one beats any pattern, then
// the longer URI wins, and at equal length prefix beats wildcard.
func rank(uri, match string) int {
	r := len(uri) * 4
	switch match {
	case "exact":
		r += 1 << 30
	case "prefix":
		r += 2
	case "wildcard":
		r++
	}
	return r
}

type rolePerms []*perm

// find returns the permission that governs uri: the longest match.
func (rp rolePerms) find(uri string) *perm {
	var best *perm
	for _, p := range rp {
		if p.matches(uri) && (best == nil || p.rank > best.rank) {
			best = p
		}
	}
	return best
}

func compilePerm(uri, match string, acts ...action) *perm {
	p := &perm{uri: uri, match: match, rank: rank(uri, match)}
	if match == "wildcard" {
		p.parts = strings.Split(uri, ".")
	}
	for _, a := range acts {
		p.allow[a] = true
	}
	return p
}

// policy is one realm's rules at one moment.
type policy struct {
	open           bool
	anonymous      string
	componentsRole string
	roles          map[string]rolePerms
	// builtin holds, per component name, the least-privilege grants of
	// the built-in components role.
	builtin    map[string]rolePerms
	principals map[string]*loader.Principal
}

func newPolicy(r *loader.Realm, comps []*loader.Component) *policy {
	p := &policy{open: r.Open(), anonymous: r.Anonymous, componentsRole: r.ComponentsRole,
		roles: map[string]rolePerms{}, principals: map[string]*loader.Principal{}}
	for _, role := range r.Roles {
		var rp rolePerms
		for _, lp := range role.Permissions {
			cp := compilePerm(lp.URI, lp.Match)
			cp.allow = [4]bool{lp.Call, lp.Register, lp.Publish, lp.Subscribe}
			cp.discloseCaller, cp.disclosePublisher = lp.DiscloseCaller, lp.DisclosePublisher
			rp = append(rp, cp)
		}
		p.roles[role.Name] = rp
	}
	for _, pr := range r.Principals {
		p.principals[pr.AuthID] = pr
	}
	if _, declared := p.roles[p.componentsRole]; !declared && p.componentsRole == loader.DefaultComponentsRole {
		p.builtin = map[string]rolePerms{}
		for _, c := range comps {
			if c.Realm != r.Name {
				continue
			}
			// Call and publish anywhere outside the router's own wamp.
			// namespace; register and subscribe only what the component
			// declares. A prefix "" with no actions stops the wamp. rule
			// from being the only match.
			rp := rolePerms{compilePerm("", "prefix", actCall, actPublish), compilePerm("wamp.", "prefix")}
			for _, b := range c.Registers {
				rp = append(rp, compilePerm(b.URI, b.Match, actRegister))
			}
			for _, b := range c.Subscribes {
				rp = append(rp, compilePerm(b.URI, b.Match, actSubscribe))
			}
			p.builtin[c.Name] = rp
		}
	}
	return p
}

// perms returns the permissions that apply to a session.
func (p *policy) perms(details nxwamp.Dict) rolePerms {
	if prov, _ := details["authprovider"].(string); prov == componentProvider {
		authid, _ := details["authid"].(string)
		if p.builtin != nil {
			return p.builtin[authid]
		}
		return p.roles[p.componentsRole]
	}
	role, _ := details["authrole"].(string)
	return p.roles[role]
}

// guard is one realm's authorizer and authenticators.
type guard struct {
	realm    string
	p        atomic.Pointer[policy]
	sessions *sessionRegistry
}

func newGuard(r *loader.Realm, comps []*loader.Component, sessions *sessionRegistry) *guard {
	g := &guard{realm: r.Name, sessions: sessions}
	g.p.Store(newPolicy(r, comps))
	return g
}

// Authorize implements router.Authorizer. Unsubscribe, unregister and the
// like are always allowed: they only give up what was granted.
func (g *guard) Authorize(sess *nxwamp.Session, msg nxwamp.Message) (bool, error) {
	var act action
	var uri nxwamp.URI
	var opts *nxwamp.Dict
	switch m := msg.(type) {
	case *nxwamp.Call:
		act, uri, opts = actCall, m.Procedure, &m.Options
	case *nxwamp.Register:
		act, uri = actRegister, m.Procedure
	case *nxwamp.Publish:
		act, uri, opts = actPublish, m.Topic, &m.Options
	case *nxwamp.Subscribe:
		act, uri = actSubscribe, m.Topic
	default:
		return true, nil
	}
	p := g.p.Load()
	if p.open {
		return true, nil
	}
	pm := p.perms(sess.Details).find(string(uri))
	if pm == nil || !pm.allow[act] {
		return false, nil
	}
	if (act == actCall && pm.discloseCaller) || (act == actPublish && pm.disclosePublisher) {
		if *opts == nil {
			*opts = nxwamp.Dict{}
		}
		(*opts)[nxwamp.OptDiscloseMe] = true
	}
	return true, nil
}

// authenticators are the realm's, all reading the guard's current policy.
func (g *guard) authenticators() []auth.Authenticator {
	ks := &keyStore{g: g}
	return []auth.Authenticator{
		&anonymousAuth{g: g},
		&tracking{g: g, method: "ticket", inner: auth.NewTicketAuthenticator(ks, authTimeout)},
		&tracking{g: g, method: "wampcra", inner: auth.NewCRAuthenticator(ks, authTimeout)},
		&tracking{g: g, method: "cryptosign", inner: &cryptosignAuth{g: g}},
	}
}

func (g *guard) realmConfig(r *loader.Realm) *router.RealmConfig {
	rc := &router.RealmConfig{
		URI:           nxwamp.URI(r.Name),
		StrictURI:     r.StrictURI,
		AllowDisclose: r.AllowDisclose,
		// The guard's own anonymous authenticator decides, so that
		// turning anonymous access off needs no restart.
		AnonymousAuth:  false,
		Authenticators: g.authenticators(),
		Authorizer:     g,
		// Components attach in-process; without these nexus would make
		// them "trusted" and skip every check.
		RequireLocalAuth:          true,
		RequireLocalAuthz:         true,
		MetaStrict:                r.MetaStrict,
		MetaIncludeSessionDetails: r.MetaIncludeSessionDetails,
		EnableMetaKill:            r.EnableMetaKill,
		EnableMetaModify:          r.EnableMetaModify,
	}
	for _, h := range r.EventHistory {
		rc.TopicEventHistoryConfigs = append(rc.TopicEventHistoryConfigs,
			&router.TopicEventHistoryConfig{Topic: nxwamp.URI(h.Topic), MatchPolicy: h.Match, Limit: h.Limit})
	}
	return rc
}

// anonymousAuth admits the daemon's components (in-process peers, which
// no client can be) with the components role, and remote clients with the
// anonymous role when the realm allows them.
type anonymousAuth struct{ g *guard }

func (a *anonymousAuth) AuthMethod() string { return "anonymous" }

func (a *anonymousAuth) Authenticate(sid nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	p := a.g.p.Load()
	if client.IsLocal() {
		authid, _ := nxwamp.AsString(details["authid"])
		return &nxwamp.Welcome{Details: nxwamp.Dict{
			"authid": authid, "authrole": p.componentsRole, "authprovider": componentProvider, "authmethod": "local",
		}}, nil
	}
	if p.anonymous == "" {
		return nil, errors.New("anonymous access is not allowed in this realm")
	}
	a.g.sessions.admit(client, a.g.realm, "", "anonymous", p.anonymous, "")
	return &nxwamp.Welcome{Details: nxwamp.Dict{
		"authid": strconv.FormatUint(uint64(nxwamp.GlobalID()), 16), "authrole": p.anonymous,
		"authprovider": "static", "authmethod": "anonymous",
	}}, nil
}

// tracking records who a client authenticated as, so that a reload can
// drop the sessions whose principal was removed or changed.
type tracking struct {
	g      *guard
	method string
	inner  auth.Authenticator
}

func (t *tracking) AuthMethod() string { return t.method }

func (t *tracking) Authenticate(sid nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	p := t.g.p.Load()
	w, err := t.inner.Authenticate(sid, details, client)
	if err != nil {
		return nil, err
	}
	authid, _ := w.Details["authid"].(string)
	pr := p.principals[authid]
	if pr == nil || pr.Method != t.method {
		return nil, errors.New("authentication failed")
	}
	key, _ := w.Details["authextra_pubkey"].(string)
	delete(w.Details, "authextra_pubkey")
	t.g.sessions.admit(client, t.g.realm, authid, t.method, pr.Role, credential(pr, key))
	return w, nil
}

// credential fingerprints what a session authenticated with; a reload
// that changes it drops the session.
func credential(pr *loader.Principal, key string) string {
	if pr.Method == "cryptosign" {
		return key
	}
	sum := sha256.Sum256([]byte(pr.Secret + "\x00" + pr.Salt + "\x00" + strconv.Itoa(pr.Iterations) + "\x00" + strconv.Itoa(pr.KeyLen)))
	return hex.EncodeToString(sum[:])
}

// keyStore serves ticket and wampcra secrets from the current policy.
type keyStore struct{ g *guard }

var errNoPrincipal = errors.New("no such principal")

func (k *keyStore) principal(authid, method string) (*loader.Principal, error) {
	pr := k.g.p.Load().principals[authid]
	if pr == nil || pr.Method != method {
		return nil, errNoPrincipal
	}
	return pr, nil
}

func (k *keyStore) AuthKey(authid, method string) ([]byte, error) {
	pr, err := k.principal(authid, method)
	if err != nil {
		return nil, err
	}
	return []byte(pr.Secret), nil
}

// PasswordInfo is a salted wampcra secret's derivation, which nexus sends
// with the challenge; its AuthKey is then the derived key itself.
func (k *keyStore) PasswordInfo(authid string) (salt string, keylen int, iterations int) {
	pr, err := k.principal(authid, "wampcra")
	if err != nil || pr.Salt == "" {
		return "", 0, 0
	}
	return pr.Salt, pr.KeyLen, pr.Iterations
}

func (k *keyStore) AuthRole(authid string) (string, error) {
	pr := k.g.p.Load().principals[authid]
	if pr == nil {
		return "", errNoPrincipal
	}
	return pr.Role, nil
}

func (k *keyStore) Provider() string { return "static" }

// cryptosignAuth lets a principal hold several keys: nexus's authenticator
// knows one key per authid, so it runs against the key the client names
// in authextra.pubkey (or the only one).
type cryptosignAuth struct{ g *guard }

func (c *cryptosignAuth) AuthMethod() string { return "cryptosign" }

func (c *cryptosignAuth) Authenticate(sid nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	authid, _ := nxwamp.AsString(details["authid"])
	pr := c.g.p.Load().principals[authid]
	if pr == nil || pr.Method != "cryptosign" {
		return nil, errors.New("authentication failed")
	}
	var key string
	extra, _ := nxwamp.AsDict(details["authextra"])
	want, _ := nxwamp.AsString(extra["pubkey"])
	want = strings.ToLower(want)
	for _, k := range pr.PublicKeys {
		if (want == "" && len(pr.PublicKeys) == 1) || subtle.ConstantTimeCompare([]byte(k), []byte(want)) == 1 {
			key = k
		}
	}
	if key == "" {
		return nil, errors.New("authentication failed")
	}
	raw, _ := hex.DecodeString(key)
	inner := auth.NewCryptoSignAuthenticator(&oneKey{authid: authid, key: raw, role: pr.Role}, authTimeout)
	w, err := inner.Authenticate(sid, details, client)
	if err != nil {
		return nil, err
	}
	w.Details["authextra_pubkey"] = key
	return w, nil
}

type oneKey struct {
	authid, role string
	key          []byte
}

func (o *oneKey) AuthKey(authid, _ string) ([]byte, error) {
	if authid != o.authid {
		return nil, errNoPrincipal
	}
	return o.key, nil
}
func (o *oneKey) PasswordInfo(string) (string, int, int) { return "", 0, 0 }
func (o *oneKey) AuthRole(string) (string, error)        { return o.role, nil }
func (o *oneKey) Provider() string                       { return "static" }

// trackedPeer is a remote client's connection, wrapped so that the
// registry learns when it ends and can end it.
type trackedPeer struct {
	nxwamp.Peer
	reg  *sessionRegistry
	once sync.Once

	// Set once authenticated, under reg.mu.
	realm, authid, method, role, cred string
}

// Close is idempotent: nexus closes a peer when its session ends, and a
// reload may already have closed it (nexus's rawsocket peer panics on a
// second close).
//
// A peer that was never admitted is closing because its handshake was
// refused, right after nexus queued the ABORT that says why. nexus's
// WebSocket and RawSocket peers discard what is still queued when they
// close, so the client often saw a bare disconnect instead of, say,
// wamp.error.authentication_failed. Such a peer gets a moment to write its
// queue first, on a goroutine of its own: nexus also closes peers from its
// broker and dealer (after a protocol violation), which must not wait for
// a client that does not read.
func (t *trackedPeer) Close() {
	t.once.Do(func() {
		t.reg.clients.Dec()
		if t.reg.forget(t) {
			t.Peer.Close()
			return
		}
		go func() {
			drainQueue(t.Peer.Send(), abortFlushTimeout)
			t.Peer.Close()
		}()
	})
}

// abortFlushTimeout bounds how long a refused client's ABORT may take to
// leave; a client that does not read loses it.
const abortFlushTimeout = 500 * time.Millisecond

// drainQueue waits until the peer's writer has taken everything queued
// (it finishes writing what it took before it closes), or d has passed.
// The transport offers no signal for that, so it polls; only refused
// handshakes wait, for one message.
func drainQueue(q chan<- nxwamp.Message, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(q) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// sessionRegistry knows every authenticated remote session and how it
// authenticated.
type sessionRegistry struct {
	mu      sync.Mutex
	peers   map[*trackedPeer]struct{}
	clients prometheus.Gauge // remote connections attached now
}

func newSessionRegistry(clients prometheus.Gauge) *sessionRegistry {
	return &sessionRegistry{peers: map[*trackedPeer]struct{}{}, clients: clients}
}

// wrap tracks a remote connection from attach until its peer closes.
func (r *sessionRegistry) wrap(p nxwamp.Peer) *trackedPeer {
	r.clients.Inc()
	return &trackedPeer{Peer: p, reg: r}
}

func (r *sessionRegistry) admit(p nxwamp.Peer, realm, authid, method, role, cred string) {
	t, ok := p.(*trackedPeer)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.realm, t.authid, t.method, t.role, t.cred = realm, authid, method, role, cred
	r.peers[t] = struct{}{}
}

// forget drops t and reports whether it had been admitted.
func (r *sessionRegistry) forget(t *trackedPeer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, admitted := r.peers[t]
	delete(r.peers, t)
	return admitted
}

// revoke closes the sessions of realm that p would no longer admit as
// they are: anonymous ones when anonymous access is off or its role
// changed, and principals removed or changed in method, role or
// credential. It returns how many it closed.
func (r *sessionRegistry) revoke(realm string, p *policy) int {
	r.mu.Lock()
	var drop []*trackedPeer
	for t := range r.peers {
		if t.realm != realm || admitted(t, p) {
			continue
		}
		drop = append(drop, t)
	}
	r.mu.Unlock()
	for _, t := range drop {
		go t.Close() // a websocket close waits for its reader
	}
	return len(drop)
}

func admitted(t *trackedPeer, p *policy) bool {
	if t.method == "anonymous" {
		return p.anonymous != "" && p.anonymous == t.role
	}
	pr := p.principals[t.authid]
	if pr == nil || pr.Method != t.method || pr.Role != t.role {
		return false
	}
	if pr.Method == "cryptosign" {
		for _, k := range pr.PublicKeys {
			if k == t.cred {
				return true
			}
		}
		return false
	}
	return credential(pr, "") == t.cred
}
