# Node Exporter Full against Edgepulse and against Prometheus scraping
# prometheus-node-exporter on this host (testbench/dashboard): about 4
# minutes. Ends with
#   RESULT dashboard_queries=… with_data=… prometheus_with_data=… errors=… value_mismatches=…
# DASHBOARD_FLAGS passes options, e.g. DASHBOARD_FLAGS='-warmup 5m'.
.PHONY: dashboard

DASHBOARD_FLAGS ?=

dashboard:
	$(GO) run ./testbench/dashboard/cmd/edgepulse-dashboard $(DASHBOARD_FLAGS)
