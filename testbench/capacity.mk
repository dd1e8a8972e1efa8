# What a regional store costs for a fleet (testbench/capacity, issue 13):
# 200 simulated hosts × 450 series write 2.5 days of 60 s windows at
# accelerated time through the aggregator into Redis with a 1-day
# retention; the same windows go into a Prometheus TSDB block (promtool,
# Debian package prometheus). Ends with:
#   RESULT bytes_per_window=… prom_tsdb_bytes_per_window=… memory_growth_after_retention_pct=…
#          series_windows_per_s=… ratio_to_redis_set=… query_p99_ms=… host_query_p99_ms=…
#          fleet_query_p99_ms=… fleet_query_wholelog_p99_ms=…
# Each kind of query also gets a line with its first (cold) query, CPU of
# the aggregator's process and of Redis per query and Redis's commands;
# CAPACITY_FLAGS='-query-cpuprofile /tmp/q' writes a CPU profile per kind
# (/tmp/q-host.pprof, …).
# CAPACITY_FLAGS passes options, e.g. CAPACITY_FLAGS='-days 3' (the issue's
# literal shape) or '-hosts 20 -days 0.125 -retention 1h' (a 40 s smoke run).
.PHONY: capacity
CAPACITY_FLAGS ?=
capacity:
	$(GO) run ./testbench/capacity $(CAPACITY_FLAGS)
