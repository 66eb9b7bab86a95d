#!/usr/bin/env bash
# Installs the real WAMP peers that the test suite drives, into DEST
# (default .cache/peers). Idempotent: a peer already in place is only
# checked, so a second run takes about a second.
#
#   Autobahn|Python  Debian's python3-autobahn, run as /usr/bin/python3 (the
#                    python3 on PATH may be another interpreter). Its Debian
#                    dependencies bring msgpack, but for CBOR they bring the
#                    old `cbor` module while autobahn 22.7.1 imports `cbor2`:
#                    without python3-cbor2 its CBORSerializer does not exist.
#                    Its cryptosign support needs PyNaCl (python3-nacl, which
#                    python3-autobahn depends on; the check imports it).
#   autobahn-js      npm's autobahn, plus ws: Node 20 has no global WebSocket.
#   nexusd           built from the Go module proxy at the nexus version
#                    go.mod pins. `go install ...@v3.3.0` is refused (the
#                    proxy does not serve the version list), so it is built
#                    from a throwaway module that requires it.
#
# The tests find the peers through WAMPHOST_PEERS (the Makefile exports it).
set -euo pipefail

dest=${1:-.cache/peers}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

PYTHON=/usr/bin/python3
AUTOBAHN_JS_VERSION=26.3.1
WS_VERSION=8.18.3
NEXUS_VERSION=v3.3.0

say() { printf 'peers: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		echo "peers: need root (or sudo) to run: $*" >&2
		return 1
	fi
}

# --- Autobahn|Python --------------------------------------------------------
py_check='import autobahn, msgpack, cbor2; from autobahn.wamp.serializer import MsgPackSerializer, CBORSerializer; from autobahn.wamp.cryptosign import CryptosignKey; print(autobahn.__version__)'
if ! py_version=$("$PYTHON" -c "$py_check" 2>/dev/null); then
	say "installing python3-autobahn python3-cbor2 python3-nacl (apt)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		python3-autobahn python3-msgpack python3-cbor2 python3-nacl >/dev/null
	py_version=$("$PYTHON" -c "$py_check")
fi
say "autobahn-python $py_version ($PYTHON, serializers json msgpack cbor; cryptosign)"

# --- autobahn-js ------------------------------------------------------------
node_dir=$dest/node
js_version() {
	node -e 'process.stdout.write(require(process.argv[1] + "/node_modules/autobahn/package.json").version + " ws " + require(process.argv[1] + "/node_modules/ws/package.json").version)' "$node_dir" 2>/dev/null
}
if [ "$(js_version | cut -d' ' -f1)" != "$AUTOBAHN_JS_VERSION" ]; then
	command -v npm >/dev/null 2>&1 || { echo "peers: npm not found (autobahn-js needs Node.js and npm)" >&2; exit 1; }
	say "installing autobahn@$AUTOBAHN_JS_VERSION ws@$WS_VERSION (npm)"
	mkdir -p "$node_dir"
	npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error \
		"autobahn@$AUTOBAHN_JS_VERSION" "ws@$WS_VERSION" >/dev/null
fi
say "autobahn-js $(js_version) (node $(node --version), $node_dir/node_modules)"

# --- nexusd -----------------------------------------------------------------
nexusd=$dest/bin/nexusd
if [ ! -x "$nexusd" ]; then
	say "building nexusd $NEXUS_VERSION (Go module proxy)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(
		cd "$tmp"
		export GOFLAGS=-mod=mod
		go mod init wamphost.local/nexusd-build >/dev/null 2>&1
		go get "github.com/gammazero/nexus/v3@$NEXUS_VERSION" >/dev/null 2>&1
		go get "github.com/gammazero/nexus/v3/nexusd@$NEXUS_VERSION"
		mkdir -p "$dest/bin"
		GOBIN=$dest/bin go install github.com/gammazero/nexus/v3/nexusd
	)
fi
# The version comes from the binary's build info, so a stale binary shows.
nexus_version=$(go version -m "$nexusd" | awk '($1 == "mod" || $1 == "dep") && $2 == "github.com/gammazero/nexus/v3" { print $3 }')
say "nexusd ${nexus_version:-unknown} ($nexusd)"
if [ "$nexus_version" != "$NEXUS_VERSION" ]; then
	echo "peers: $nexusd is nexus ${nexus_version:-unknown}, want $NEXUS_VERSION; remove it and rerun" >&2
	exit 1
fi
