# Agent footprint vs node_exporter + Prometheus agent mode, both at 1 s
# (Debian packages prometheus and prometheus-node-exporter), the agent with
# the shipped defaults: 15 minutes, CPU and RSS at the end, peak, and over
# the last 10 minutes. bench-agent-short is a 3-minute check.
BENCH_AGENT_DURATION ?= 15m
.PHONY: bench-agent bench-agent-short
bench-agent:
	$(GO) run ./testbench/benchagent -duration $(BENCH_AGENT_DURATION)

bench-agent-short:
	$(GO) run ./testbench/benchagent -duration 3m -tail 2m -every 10s
