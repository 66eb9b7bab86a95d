package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The real peers (Autobahn|Python, autobahn-js, nexusd) live outside the
// module: scripts/install-peers.sh puts them in one directory, named by
// WAMPHOST_PEERS. Under `make test` (WAMPHOST_REQUIRE_PEERS=1) a missing
// peer fails the test, so CI can never pass by skipping; a plain `go test`
// skips instead and says how to install.

// PythonPath is the interpreter Debian's python3-autobahn installs into; the
// python3 first on PATH may be another one without autobahn.
const PythonPath = "/usr/bin/python3"

// PeersDir is where install-peers.sh put the peers: $WAMPHOST_PEERS, or
// .cache/peers below the module root.
func PeersDir() string {
	if d := os.Getenv("WAMPHOST_PEERS"); d != "" {
		return d
	}
	return filepath.Join(moduleRoot(), ".cache", "peers")
}

func peerMissing(t testing.TB, peer, why string) {
	t.Helper()
	msg := peer + " is not installed (" + why + "); run `make peers`, or scripts/install-peers.sh DIR and set WAMPHOST_PEERS=DIR"
	if os.Getenv("WAMPHOST_REQUIRE_PEERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var (
	pythonOnce sync.Once
	pythonErr  string
)

// pythonCheck imports what the interop scripts use: autobahn and the
// serializers it only defines when their libraries import (CBOR needs
// cbor2, which Debian's python3-autobahn does not pull in).
const pythonCheck = "import autobahn; from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer, CBORSerializer"

// Python returns the path of a Python interpreter that imports autobahn
// with its JSON, MessagePack and CBOR serializers.
func Python(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command(PythonPath, "-c", pythonCheck).CombinedOutput()
		if err != nil {
			pythonErr = PythonPath + " -c '" + pythonCheck + "': " + err.Error() + ": " + string(out)
		}
	})
	if pythonErr != "" {
		peerMissing(t, "Autobahn|Python", pythonErr)
	}
	return PythonPath
}

// NodeModules returns the node_modules directory holding autobahn and ws.
// Scripts get it through NODE_PATH; node itself must be on PATH.
func NodeModules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(PeersDir(), "node", "node_modules")
	if _, err := exec.LookPath("node"); err != nil {
		peerMissing(t, "autobahn-js", "node not found on PATH")
	}
	for _, pkg := range []string{"autobahn", "ws"} {
		if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
			peerMissing(t, "autobahn-js", "no "+pkg+" in "+dir)
		}
	}
	return dir
}

// Nexusd returns the path of the standalone nexus router binary.
func Nexusd(t testing.TB) string {
	t.Helper()
	p := filepath.Join(PeersDir(), "bin", "nexusd")
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		peerMissing(t, "nexusd", "no executable "+p)
	}
	return p
}
