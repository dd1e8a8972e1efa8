# Agent footprint vs node_exporter + Prometheus agent mode, both at 1 s
# (Debian packages prometheus and prometheus-node-exporter).
BENCH_AGENT_DURATION ?= 5m
.PHONY: bench-agent
bench-agent:
	$(GO) run ./testbench/benchagent -duration $(BENCH_AGENT_DURATION)
