// Package uibench drives the aggregator's web console (aggregator/console)
// in Debian's headless chromium (chromedp) against a real stack — Redis,
// aggregator, stock leaf node, agent — whose leaf link runs through the
// testbench's counting proxy: the browser test (TestConsoleBrowser, in
// make test) and the measurements of make ui-bench (cmd/edgepulse-uibench:
// push and live latency in the browser, uplink bytes with and without a
// live viewer, fleet render time with 1,000 hosts).
package uibench
