// Package rollup summarises one-second samples into wall-clock windows.
//
// # Types
//
// A [Windows] keeps, per open window and per series, a [State]: count, sum,
// min, max, first, last and a quantile sketch. Windows are aligned to
// multiples of the width (default 60 s) in Unix time.
//
// The sketch is a DDSketch (github.com/DataDog/sketches-go) made from a
// shared [SketchConfig]: every quantile it returns is within the relative
// accuracy (default 1 %) of the exact one, for positive, zero and negative
// values alike. A State allocates its sketch on its first sample; Windows
// recycles States with their sketches ([Windows.Recycle]), so a steady
// cycle allocates nothing per window per series. [State.Quantiles] gives
// p50, p90 and p99 for codec.Rollup.Quantiles. [Options].NoSketch turns
// sketches off.
//
// Counters are turned into per-second rates (a drop in value is a reset:
// the rate is the new value over the gap, as Prometheus' rate() assumes)
// and their State describes the rate, while Raw keeps the raw counter at
// LastTS so PromQL's rate() works on the stored data. A counter's first
// sample makes no rate; a counter sample not newer than the previous one
// makes none either and is counted ([Windows.OutOfOrder]).
//
// A watermark closes windows: [Windows.Close] returns every window whose end
// plus the allowed lateness is at or before the watermark. A sample for a
// window that is already closed is counted as late, never silently dropped
// and never reopens the window.
//
// States merge: combining two partial States of the same window gives the
// State of the union of their samples (count, min, max exact; sum up to
// float rounding; first and last by timestamp; the merged sketch is the
// sketch of the union, so its quantiles keep the error bound).
//
// # Concurrency
//
// A Windows and its States are used by one goroutine (the agent's consumer
// loop). A SketchConfig is immutable and may be shared.
//
// # Imports
//
// rollup must not import NATS, Redis, Badger or the aggregator.
package rollup
