# Agent footprint vs node_exporter + Prometheus agent mode, both at 1 s
# (Debian packages prometheus and prometheus-node-exporter), the agent with
# the shipped defaults: 15 minutes, CPU and RSS at the end, peak, and over
# the last 10 minutes. bench-agent-short is a 3-minute check. The agent is
# bin/edgepulse-agent as make build ships it (static);
# BENCH_AGENT=<binary> measures another build (e.g. bin/linux-amd64/edgepulse-agent).
# BENCH_AGENT_BASELINE=<agent binary> runs that agent beside (base_* in
# the RESULT line), e.g. one built from main: the same-run comparison.
BENCH_AGENT_DURATION ?= 15m
BENCH_AGENT_BASELINE ?=
BENCH_AGENT ?= $(BIN)/edgepulse-agent
.PHONY: bench-agent bench-agent-short
bench-agent: $(BENCH_AGENT)
	$(GO) run ./testbench/benchagent -agent $(BENCH_AGENT) -duration $(BENCH_AGENT_DURATION) $(if $(BENCH_AGENT_BASELINE),-baseline $(BENCH_AGENT_BASELINE))

bench-agent-short: $(BENCH_AGENT)
	$(GO) run ./testbench/benchagent -agent $(BENCH_AGENT) -duration 3m -tail 2m -every 10s $(if $(BENCH_AGENT_BASELINE),-baseline $(BENCH_AGENT_BASELINE))

# The 15-minute bench on a full day of raw history: -seed-history 24h
# writes 24 h of synthetic 1 s samples of this host's series into each
# agent's data_dir (spool Badger + edge/history, as the agent opens them)
# before it starts, so Badger's LSM is at the size a day of running
# reaches. Prints RESULT seed_* first; see docs/agent-footprint.md.
BENCH_AGENT_SEED ?= 24h
.PHONY: bench-agent-full-history
bench-agent-full-history: $(BENCH_AGENT)
	$(GO) run ./testbench/benchagent -agent $(BENCH_AGENT) -duration $(BENCH_AGENT_DURATION) -seed-history $(BENCH_AGENT_SEED) $(if $(BENCH_AGENT_BASELINE),-baseline $(BENCH_AGENT_BASELINE))
