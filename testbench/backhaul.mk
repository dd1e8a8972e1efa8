# Backhaul meter (issue 7, testbench/backhaul): SITES × HOSTS real agents
# (one on this machine's /proc, the rest on synthetic /proc trees), a stock
# leaf per site whose uplink to the aggregator's hub goes through a
# counting proxy, 60 s windows in real time (one of warm-up + 10 measured
# by default, about 13 minutes), Prometheus remote write (1 s, 15 s) and
# InfluxDB line protocol (10 s) computed in the same run from the same
# samples, the techniques table and the fidelity check. Ends with:
#   RESULT bytes_per_host_minute=… series_per_host=… prw_1s=… prw_15s=… influx_10s=…
# BACKHAUL_FLAGS passes options, e.g. BACKHAUL_FLAGS='-sites 1 -hosts 5 -duration 3m -dir /tmp/bh'.
.PHONY: backhaul backhaul-short

BACKHAUL_FLAGS ?=

backhaul:
	$(GO) run ./testbench/backhaul/cmd/edgepulse-backhaul $(BACKHAUL_FLAGS)

# The smoke test `make test` runs: 1 site × 2 hosts, 5 s windows, 40 s.
backhaul-short:
	$(GO) test -count=1 -run TestBackhaulShort -v ./testbench/backhaul/
