# Backhaul meter (issue 7, testbench/backhaul): SITES × HOSTS real agents
# (one on this machine's /proc, the rest on synthetic /proc trees), a stock
# leaf per site whose uplink to the aggregator's hub goes through a
# counting proxy, 60 s windows in real time (one of warm-up + 10 measured
# by default, about 13 minutes), Prometheus remote write (1 s, 15 s) and
# InfluxDB line protocol (10 s) computed in the same run from the same
# samples, the techniques table and the fidelity check. Ends with:
#   RESULT bytes_per_host_minute=… series_per_host=… prw_1s=… prw_15s=… influx_10s=… frames=… acks=… clock=… …
# (the uplink by kind, testbench/leaftap: docs/backhaul.md).
# BACKHAUL_FLAGS passes options, e.g. BACKHAUL_FLAGS='-sites 1 -hosts 5 -duration 3m -dir /tmp/bh'.
.PHONY: backhaul backhaul-short backhaul-compare

BACKHAUL_FLAGS ?=

backhaul:
	$(GO) run ./testbench/backhaul/cmd/edgepulse-backhaul $(BACKHAUL_FLAGS)

# Before and after an agent change in the same run: site 1's agents run the
# agent built from BACKHAUL_BASE (a git revision, default main), the other
# sites this checkout's; the per-site breakdown compares them. E.g.
# make backhaul-compare BACKHAUL_FLAGS='-sites 3 -hosts 7 -site-yaml "2:clock: {max_check_every: 1m}"'.
BACKHAUL_BASE ?= main
backhaul-compare:
	rm -rf .run/backhaul-base && mkdir -p .run/backhaul-base
	git archive $(BACKHAUL_BASE) | tar -x -C .run/backhaul-base
	cd .run/backhaul-base && $(GO) build -o ../backhaul-base-agent ./edge/cmd/edgepulse-agent
	$(GO) run ./testbench/backhaul/cmd/edgepulse-backhaul -site-agent 1:$(CURDIR)/.run/backhaul-base-agent $(BACKHAUL_FLAGS)

# The smoke test `make test` runs: 1 site × 2 hosts, 5 s windows, 40 s.
backhaul-short:
	$(GO) test -count=1 -run TestBackhaulShort -v ./testbench/backhaul/
