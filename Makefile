# Edgepulse. The two commands: `make run` and `make test`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test test-short fuzz eval-detect bench-queue clean

all: build

build: $(BIN)/edgepulse-agent $(BIN)/edgepulse-aggregator $(BIN)/nats-server

# The agent as it ships to a host: one static binary (no libc to map or
# to match), pure-Go queue; the same as make cross's *-nocgo builds.
# make cross builds the cgo variants with the C queue.
$(BIN)/edgepulse-agent: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./edge/cmd/edgepulse-agent

$(BIN)/edgepulse-aggregator: FORCE
	$(GO) build -ldflags '$(LDFLAGS)' -o $@ ./aggregator/cmd/edgepulse-aggregator

# The site leaf node: stock nats-server at the version go.mod pins.
$(BIN)/nats-server: go.mod
	$(GO) build -o $@ github.com/nats-io/nats-server/v2

FORCE:

# A working single-host stack on this host's /proc: Redis, aggregator (hub),
# site leaf node and one agent. Ctrl-C stops all of it.
run: build
	exec deploy/run-local.sh

# Unit tests plus the end-to-end test on real processes. bin/nats-server is
# the site leaf some tests start (deploy/check), built here so none skips.
test: $(BIN)/nats-server
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

# Fuzz every decoder for FUZZTIME each (corpus kept in testdata/fuzz). The
# list is testbench/security's FuzzTargets, which make security runs too;
# TestFuzzTargetsComplete keeps it equal to the Fuzz functions in the tree.
FUZZTIME ?= 30s
fuzz:
	$(GO) run ./testbench/security/cmd/fuzz-targets | while read -r pkg name; do \
	  echo "== $$pkg $$name"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# Detectors against the labelled ASD data in ../shared/data/asd, with the
# windowed-Gaussian baseline computed in the same run.
eval-detect:
	$(GO) run ./testbench/evaldetect -sweep

# The queue benchmark table: Go ring, C11 ring (cgo) and a buffered channel.
bench-queue:
	$(GO) test -run x -bench . -benchtime=300ms ./edge/queue/

clean:
	rm -rf $(BIN) .run

# Area makefiles: cross/cross.mk (make cross, cross-test), testbench/*.mk
# (make faults, backhaul, …) keep their targets next to their scripts.
-include cross/*.mk testbench/*.mk deploy/*.mk
