// Package detect scores streams of samples for anomalies: streaming
// detectors, a rule engine, fusion of their scores and an incident tracker,
// all pure functions of the sample stream.
//
// # Detectors
//
// Each detector lives in its own file and implements the same small shape:
// Push consumes one sample and returns its anomaly score in [0, 1], computed
// from the state before the sample (so a score never uses the sample it
// judges); Score returns the last score; Footprint reports the state size per
// series and the cost per sample. Univariate detectors over one series:
//
//   - [EWMA]: robust z-score against an exponentially weighted mean with
//     adaptive, outlier-clipped variance.
//   - [SPOT] and [DSPOT]: extreme-value thresholds (Siffer et al., KDD 2017)
//     with a generalized Pareto tail fitted by Grimshaw's method ([FitGPD]).
//   - [CUSUM]: two-sided cumulative sum for level shifts and slow leaks.
//   - [RuleState]: one YAML threshold [Rule] with a `for` duration and
//     hysteresis, evaluated on one series.
//
// Multivariate, over one host's correlated series: [PCA], a streaming PCA
// (CCIPCA) whose reconstruction error is scored.
//
// [Series] bundles the univariate detectors of one series and fuses their
// scores ([Fuse]); [Scorer] runs a Series per column plus PCA over rows of a
// table and fuses everything into one host score; [IncidentTracker] turns a
// fused score into open/close transitions with hysteresis. [CSVReader] reads
// the CSV contract used by `edgepulse-agent detect`.
//
// # Scores
//
// Every detector turns its own statistic into a severity r ≥ 0 — 1 at that
// detector's alarm level (|z| = Scale, z_q, S = H) — and reports
// r²/(1+r²), so 0.5 means "at the alarm level" for all of them and scores
// never saturate before r = ∞. [Series] then calibrates each detector's
// score against that detector's own history on the series (0.5 at an
// empirical tail rate of 1e-3) before weighted fusion, so a detector with a
// heavy-tailed score distribution cannot dominate [FuseMax].
//
// # Cost
//
// Every detector states its state bytes and per-sample cost in its doc
// comment and through Footprint; bench_test.go measures them (all ≤ 1 µs
// per sample, ≤ 2 KB per series; TestStateSizePerSeries asserts the size
// bound and TestFootprintMatchesHeap checks Footprint against the heap).
//
// # Configuration
//
// [Config] is plain data with YAML tags; the zero value of every field means
// its default ([DefaultConfig]); [LoadConfig] parses YAML bytes and
// validates; Validate errors name the field and the allowed range.
//
// # Concurrency
//
// No type in this package is safe for concurrent use: one goroutine owns a
// Series, Scorer or detector. Distinct values share nothing mutable (Rules are
// read-only once validated), so different series can be driven from
// different goroutines.
//
// # Imports
//
// detect is a leaf library: standard library and gopkg.in/yaml.v3 only. It
// must not import NATS, Redis, Badger, edge or aggregator packages, keeps no
// globals and reads no flags.
package detect
