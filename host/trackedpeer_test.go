package host

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRefusedPeerWritesItsQueue: a peer closed before it was admitted (a
// refused handshake) writes what the router queued (the ABORT that says
// why) before the connection closes. nexus's WebSocket peer discards its
// queue on Close; with a busy writer the ABORT was lost.
func TestRefusedPeerWritesItsQueue(t *testing.T) {
	peers := make(chan nxwamp.Peer, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{Subprotocols: []string{jsonProtocol}}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		peers <- transport.NewWebsocketPeer(conn, &serialize.JSONSerializer{}, websocket.TextMessage, discardLog{}, 0, outQueueSize)
	}))
	defer srv.Close()
	dialer := websocket.Dialer{Subprotocols: []string{jsonProtocol}}
	conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	reg := newSessionRegistry(prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_clients"}))
	peer := reg.wrap(<-peers)
	// A full queue keeps the writer busy, as a CHALLENGE being written
	// does when the refusal comes.
	const queued = 200
	for i := 1; i < queued; i++ {
		peer.Send() <- &nxwamp.Event{Subscription: 1, Publication: nxwamp.ID(i), Details: nxwamp.Dict{}}
	}
	peer.Send() <- &nxwamp.Abort{Reason: nxwamp.ErrAuthenticationFailed, Details: nxwamp.Dict{}}
	peer.Close()

	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got int
	var last string
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			break
		}
		got++
		last = string(b)
	}
	if got != queued || !strings.Contains(last, string(nxwamp.ErrAuthenticationFailed)) {
		t.Fatalf("the client read %d of %d queued messages before the close, the last %q; want all, ending with the ABORT", got, queued, last)
	}
}
