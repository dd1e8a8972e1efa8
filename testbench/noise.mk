# Full noise and injected-fault check of edge detection (issue: detection).
# NOISE_DURATION is the idle phase on this host's /proc (default 30m).
NOISE_DURATION ?= 30m
.PHONY: noise
noise:
	$(GO) run ./testbench/noise -duration $(NOISE_DURATION)
