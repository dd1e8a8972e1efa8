// Package alerting evaluates standard Prometheus rule files over the
// regional store with the upstream rules manager and sends alerts with
// the upstream notifier to Alertmanager — rule alerts and the agents'
// incidents alike.
//
// # Types
//
// [Config] is the aggregator config's `alerting` section: rule files, the
// evaluation interval, the Alertmanager URLs and the external URL alerts
// link back to. [Service] runs the rules manager (github.com/prometheus/
// prometheus/rules) with the query package's Queryable and PromQL engine,
// the notifier (…/notifier) fed with static Alertmanager targets, and a
// loop that forwards the store's open incidents as alerts (alertname the
// incident's series, site, instance, job and the series' labels,
// severity "warning"; annotations value, score, reason and a query URL
// of the raw context) and sends each as resolved once it closes.
//
// # Bounds
//
// Incidents are re-sent every incident_interval (default
// [DefaultIncidentInterval]) with an end 4 intervals
// ahead, so an Alertmanager that stops hearing from the aggregator
// resolves them itself; at most [MaxIncidents] are forwarded per pass.
// The notifier queues at most 10000 alerts (upstream default), dropping
// the oldest and counting them.
//
// Recording rules are evaluated, but their results are not written back
// to the store (the store holds agents' windows only): a recording rule's
// health shows in /api/v1/rules, its series are not queryable. Every
// aggregator of a cluster evaluates the rules; Alertmanager
// de-duplicates the identical alerts, as for a Prometheus HA pair.
//
// # Imports
//
// alerting must not import NATS or edge.
package alerting
