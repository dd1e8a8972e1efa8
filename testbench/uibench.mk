# Web console (issue 16, aggregator/console, testbench/uibench).
#   make ui        fetch uPlot from npm and refresh the committed build
#   make ui-bench  push/live latency in the browser, uplink bytes with and
#                  without a live viewer, fleet render with 1,000 hosts:
#     RESULT push_p99_ms=… live_p99_ms=… live_bytes_per_min=… after_close_bytes_per_min=… fleet_render_ms=…
#                  (about 7 minutes; UIBENCH_FLAGS='-quiet 3m -live 1m -hosts 1000')
#   make ui-shots  rerun the browser test and copy its screenshots to docs/console/
.PHONY: ui ui-bench ui-shots

UPLOT_VERSION ?= 1.6.32
UI_ASSETS := aggregator/console/assets
UIBENCH_FLAGS ?=

ui:
	rm -rf .ui-build && mkdir -p .ui-build
	cd .ui-build && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz
	cp .ui-build/package/dist/uPlot.iife.min.js .ui-build/package/dist/uPlot.min.css $(UI_ASSETS)/
	cp .ui-build/package/LICENSE $(UI_ASSETS)/uPlot.LICENSE
	rm -rf .ui-build
	@echo "uPlot $(UPLOT_VERSION) copied to $(UI_ASSETS) (commit it: go build embeds it)"

ui-bench:
	$(GO) run ./testbench/uibench/cmd/edgepulse-uibench $(UIBENCH_FLAGS)

ui-shots:
	mkdir -p docs/console
	EDGEPULSE_CONSOLE_SHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run TestConsoleBrowser ./testbench/uibench/
