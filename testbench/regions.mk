# Many regions (issue 19, testbench/regions): two regions of three hubs
# with a Redis each, four sites with leaves listing every hub, agents on
# synthetic /proc and 1,000 simulated hosts: hub kill, region fallback,
# global query and its partial warning, the aggregation rule against raw
# PromQL. Ends with:
#   RESULT lost=… duplicates=… leaf_failover_s=… region_fallback_s=… global_query_p99_ms=… partial_warning=… preagg_speedup=… preagg_max_rel_err=…
# REGIONS_FLAGS passes options, e.g. REGIONS_FLAGS='-sim-hosts 200 -keep'.
.PHONY: regions
REGIONS_FLAGS ?=
regions:
	$(GO) run ./testbench/regions $(REGIONS_FLAGS)
