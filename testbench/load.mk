# One aggregator node's ingest ceiling (testbench/load): 400 simulated
# agents × 20 windows of 500-series frames plus one agent with 24 h of
# windows, published as fast as the node absorbs them, against
# redis-benchmark -P 64 -t set on the same Redis. Ends with:
#   RESULT series_windows_per_s=… ratio_to_redis_set=… e2e_p99_ms=… query_p99_ms=…
# LOAD_FLAGS passes options, e.g. LOAD_FLAGS='-agents 100 -windows 5'.
.PHONY: load
LOAD_FLAGS ?=
load:
	$(GO) run ./testbench/load $(LOAD_FLAGS)
