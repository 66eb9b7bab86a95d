# The two commands a new user needs:
#   make run    serve ./components.hcl on the embedded router (ws://127.0.0.1:8080/ws, realm1)
#   make test   install every test peer, then run vet, gofmt and the whole test suite with -race

GO        ?= go
BIN       := bin
PEERS     := $(CURDIR)/.cache/peers
export WAMPHOST_PEERS := $(PEERS)

.PHONY: run build test test-go peers lint bench fuzz clean

run:
	$(GO) run ./cmd/wamphost run -config components.hcl

build:
	$(GO) build -o $(BIN)/wamphost ./cmd/wamphost

# test installs the real peers (Autobahn|Python, autobahn-js, nexusd), then
# runs everything with the race detector. Missing peers fail the run instead
# of skipping tests.
test: peers lint
	WAMPHOST_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

# The test command fuzzes each target briefly; `make fuzz` alone runs longer.
# A count, not a duration: with a duration, Go's fuzzer can fail with
# "context deadline exceeded" when the deadline lands inside a slow input.
TEST_FUZZTIME ?= 3000x

# test-go runs the suite with whatever peers are already installed; tests
# whose peer is missing are skipped.
test-go:
	$(GO) test -race -count=1 ./...

peers:
	./scripts/install-peers.sh "$(PEERS)"

lint:
	@grep -q '^go 1.25' go.mod || { echo "go.mod must stay at the Go 1.25 language level (go get go@1.25.0 downgrades what raised it)"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) run ./bench

# fuzz runs every fuzz target in turn for FUZZTIME each. Go fuzzes one
# target of one package per run, so each target is listed as
# package:FuzzName; add a line per new target. Crashers are written to the
# package's testdata/fuzz/<FuzzName>/, where plain `go test` replays them.
FUZZTIME ?= 10s
FUZZ_TARGETS += ./loader:FuzzParse
FUZZ_TARGETS += ./interp:FuzzFromWAMP
FUZZ_TARGETS += ./interp:FuzzToWAMP
FUZZ_TARGETS += ./interp:FuzzBind

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

clean:
	rm -rf $(BIN) .cache
