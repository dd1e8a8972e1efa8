# Fault testbench on real processes (testbench/faults): scenario A — 3 sites
# × 5 agents with 1 s windows, every uplink cut for 2 minutes through the
# counting proxy, an agent and a leaf node killed and restarted during the
# outage — and scenario B — an agent killed with SIGKILL 20 times while it
# writes its spool. Ends with one line:
#   RESULT windows_expected=… windows_stored=… duplicates=… lost=… drain_s=… crash_restarts=…
# FAULTS_FLAGS passes options, e.g. FAULTS_FLAGS='-outage 30s -kills 5 -dir /tmp/f'.
.PHONY: faults faults-short

FAULTS_FLAGS ?=

faults:
	$(GO) run ./testbench/faults/cmd/edgepulse-faults $(FAULTS_FLAGS)

# The short version `make test` runs (1 site × 2 agents, 20 s outage, 5 kills).
faults-short:
	$(GO) test -count=1 -run TestFaultsShort -v ./testbench/faults/

# Site-tier measurement for docs/site-tier.md: a plain leaf publishing
# straight into the hub stream (deploy/leaf.conf) vs a leaf with its own
# JetStream domain sourced by the hub (deploy/leaf-domain.conf), bytes on
# the uplink counted by the proxy. One SITETIER line per mode (~16 min).
SITETIER_FLAGS ?= -idle 3m -load 2m -outage 2m -agents 5
.PHONY: site-tier
site-tier:
	$(GO) run ./testbench/faults/cmd/edgepulse-sitetier $(SITETIER_FLAGS)
