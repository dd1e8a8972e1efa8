// Package rollup summarises one-second samples into wall-clock windows.
//
// # Types
//
// A [Windows] keeps, per open window and per series, a [State]: count, sum,
// min, max, first and last. Windows are aligned to multiples of the width
// (default 60 s) in Unix time. Counters are turned into per-second rates
// (a drop in value is a reset: the rate is the new value over the gap, as
// Prometheus' rate() assumes) and their State describes the rate, while
// Last keeps the raw counter so PromQL's rate() works on the stored data.
//
// A watermark closes windows: [Windows.Close] returns every window whose end
// plus the allowed lateness is at or before the watermark. A sample for a
// window that is already closed is counted as late, never silently dropped
// and never reopens the window.
//
// States merge: combining two partial States of the same window gives the
// State of the union of their samples (sum, count, min, max exact; first
// and last by timestamp).
//
// # Concurrency
//
// A Windows is used by one goroutine (the agent's consumer loop).
//
// # Imports
//
// rollup must not import NATS, Redis, Badger or the aggregator.
package rollup
