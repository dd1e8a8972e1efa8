# Aggregator tier failover (issue: regional aggregator tier): 3 aggregators
# in one JetStream cluster, 200 simulated agents, kill -9 one, restart it,
# check every window in Redis. Ends with a RESULT line.
FAILOVER_FLAGS ?=
.PHONY: failover
failover:
	$(GO) run ./testbench/failover $(FAILOVER_FLAGS)
