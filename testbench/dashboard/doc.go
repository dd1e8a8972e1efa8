// Package dashboard checks a Grafana dashboard against Edgepulse the way
// a user would: Grafana's "Node Exporter Full" (id 1860, testdata/, with
// its README and LICENSE), imported unchanged, pointed at the
// aggregator's Prometheus HTTP API and, side by side, at a Prometheus
// scraping prometheus-node-exporter on the same host.
//
// # What it does
//
// [Run] starts a one-host stack (Redis, aggregator, leaf, agent on this
// host's /proc; testbench/harness) and prometheus-node-exporter scraped
// by Prometheus at the agent's window (10 s by default), waits while both
// collect, resolves the dashboard's variables against each system as
// Grafana does ($job → $nodename → $node from
// label_values(node_uname_info{…}, …), the first value of each, sorted),
// sets $__rate_interval to max(4 × the scrape interval, 1m), and runs
// every distinct target as an instant query and a range query on both.
// A target has data when either query returns a series. Series present
// in both instant answers (taken two windows in the past) are matched on
// their labels without instance, job, site and __name__; they disagree
// when Edgepulse's value is further than 1 % (5 % for a rate over less
// than 5 minutes) from every value Prometheus's answer took within two
// scrape intervals either side (a 1 s subquery): the agent samples at
// each window's end, Prometheus at its own scrape phase, and a gauge that
// moved in between is not a disagreement. The exporter's own process_*
// and scrape durations describe different programs (the agent, node_exporter)
// and are listed, not compared. [Report.Print] ends with
//
//	RESULT dashboard_queries=<n> with_data=<n> prometheus_with_data=<n> errors=<n> value_mismatches=<n>
//
// # Requirements
//
// The Debian packages prometheus and prometheus-node-exporter; without
// them Run returns [ErrMissingBinary] and the test skips.
//
// # Imports
//
// A testbench package: it may import anything.
package dashboard
