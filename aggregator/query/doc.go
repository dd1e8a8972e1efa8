// Package query serves the Prometheus HTTP API over the rollups in Redis,
// evaluating real PromQL with the upstream promql engine.
//
// # Series
//
// Every stored metric X appears as several series, one per window
// statistic, all stamped at the window's end:
//
//	X            the last value in the window (for counters the raw counter,
//	             so rate(X[5m]) works as on a Prometheus server)
//	X:avg        mean of the window's samples (counters: of the per-second rate)
//	X:min X:max  extremes        X:sum  sum        X:count  samples in the window
//	X:first      first value     X:p50 X:p90 X:p99  quantiles, when the agent sketched them
//
// Every series carries the labels the agent sent plus site and instance.
// A selector without a matcher on __name__ ({instance="h"}) selects the
// stored series (X) only, as it would on a Prometheus server; the
// statistics' series are selected by name ({__name__=~".+", instance="h"}
// selects all of them).
//
// # Types
//
// [Queryable] implements storage.Queryable over a store.Store. [API] is
// the http.Handler for /api/v1/query, /api/v1/query_range, /api/v1/series,
// /api/v1/labels, /api/v1/label/<name>/values and /api/v1/status/buildinfo.
// Its methods are the handlers (api.go, tsdb.go) and the request guard
// (guard.go: bearer token, body and URL bounds, timeout); it holds the
// parts with a concern of their own: the admitter (admit.go, the query
// slots), replies (reply.go, Prometheus' success and error shapes) and
// ruleViews (rules.go, /api/v1/rules).
//
// # Limits
//
// Limits bound the series a query may select and the samples it may load;
// exceeding one is a 422 naming the limit. Bad PromQL is a 400 with the
// parser's message.
//
// # Admission
//
// Every request takes one of Limits.MaxConcurrent slots, queueing (at most
// MaxQueued, for at most QueueTimeout) when they are taken; a query whose
// Selects loaded more than HeavySamples samples gives its slot back and
// takes one of HeavySlots heavy slots before it goes on, so heavy queries
// do not hold the slots light ones need. A request refused is a 503 with
// Retry-After ([ErrOverloaded]); a query that loads more than MaxSamples
// is a 422 ([ErrSampleBudget]). The slots are channels; the counters
// ([API.AdmitStats]) are atomics.
//
// # Imports
//
// query must not import NATS or edge.
package query
