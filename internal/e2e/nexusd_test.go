package e2e

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	"github.com/gammazero/nexus/v3/wamp"
)

// A callee on WebSocket answers a caller on RawSocket through a real
// nexusd, and nexusd stops cleanly on SIGINT.
func TestNexusdServesWebSocketAndRawSocket(t *testing.T) {
	n := StartNexus(t, NexusConfig{RawSocket: true})
	callee := n.Client("realm1")
	if err := callee.Register("com.e2e.echo", func(ctx context.Context, inv *wamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}, nil); err != nil {
		t.Fatal(err)
	}
	caller := Connect(t, n.TCPURL, "realm1", serialize.MSGPACK)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, "com.e2e.echo", nil, wamp.List{"hi", 7}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Arguments) != 2 || res.Arguments[0] != "hi" {
		t.Fatalf("echo = %v, want [hi 7]", res.Arguments)
	}
	callee.Close()
	caller.Close()
	n.Stop()
	if !n.exitedNow() || n.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("nexusd did not exit 0 after SIGINT: %v\n%s", n.cmd.ProcessState, n.Logs())
	}
}

// Caller-supplied realms replace realm1, and Edit reaches any key.
func TestNexusdCustomConfig(t *testing.T) {
	n := StartNexus(t, NexusConfig{
		Realms: []map[string]any{{"uri": "realm2", "anonymous_auth": true, "strict_uri": true}},
		Edit: func(cfg map[string]any) {
			cfg["websocket"].(map[string]any)["out_queue_size"] = 128
		},
	})
	data, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		WebSocket struct {
			OutQueueSize int `json:"out_queue_size"`
		} `json:"websocket"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.WebSocket.OutQueueSize != 128 {
		t.Fatalf("config %s: Edit not applied (%v)", data, err)
	}
	n.Client("realm2")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := client.ConnectNet(ctx, n.URL, client.Config{Realm: "realm1"}); err == nil {
		c.Close()
		t.Fatal("joined realm1, which the custom config does not have")
	}
}
