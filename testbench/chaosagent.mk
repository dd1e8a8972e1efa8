# Agent chaos scenarios of issue 18 (testbench/chaos, run as root: the
# disk-full scenario mounts a tmpfs): the agent's data directory on a
# 12 MiB tmpfs with the uplink cut until the disk reserve is reached, a
# kill -9 and restart on the full disk, then the drain; and each spool
# damage (truncated newest .sst, garbage in an .sst, garbage in the .mem
# log after kill -9, truncated MANIFEST) done to a stopped agent's spool;
# and disk_filled_by_other: dd fills a 24 MiB tmpfs to the last block
# behind the agent's checks (uplink cut, kill -9 and restart half way).
#   RESULT scenario=disk_full windows_expected=… windows_stored=… lost=… duplicates=… dropped_counted=… restarts=1 crashes=…
#   RESULT scenario=disk_filled_by_other free_after_fill=0 … lost=… dropped_counted=… alive_while_full=1 restart_on_full_disk=… crashes=…
#   RESULT scenario=spool_<damage> … missing=… lost_counted=… uncounted=… crash_loop=… seq_regressed=…
# CHAOS_AGENT_FLAGS passes options, e.g. '-disk-mib 20 -damages garbage_sst'
# or '-scenarios disk_full,disk_filled_by_other'.
.PHONY: chaos-agent
CHAOS_AGENT_FLAGS ?=
chaos-agent:
	$(GO) run ./testbench/chaos/cmd/edgepulse-chaos-agent $(CHAOS_AGENT_FLAGS)

# make chaos runs the agent scenarios too.
chaos: chaos-agent
