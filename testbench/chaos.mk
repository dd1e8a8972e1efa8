# Chaos scenarios of issue 18 on real processes (testbench/chaos): Redis
# killed with -9 and restarted on an older RDB snapshot, then a query flood
# (CHAOS_FLAGS='-clients 40 -flood 20s'; add -unbounded for the numbers
# without admission limits). One line each:
#   RESULT scenario=redis_rollback windows_expected=… windows_stored=… lost=… duplicates=… restarts=…
#   RESULT scenario=query_flood … rss_peak_mb=… normal_p99_ms=…
.PHONY: chaos
CHAOS_FLAGS ?=
chaos:
	$(GO) run ./testbench/chaos/cmd/edgepulse-chaos $(CHAOS_FLAGS)
