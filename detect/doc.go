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
//   - [Dist]: the two-sided tail probability of the value under the
//     series' own distribution — 32 quantiles plus exponential tails,
//     fitted to the training data ([Dist.Fit]) or to the first samples and
//     then adapted online.
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
// Scores are monotone in a tail probability p — how often a normal sample
// is at least as extreme — through [TailScore]: 1/(1+√(p/PRef)), so 0.5
// means p = PRef = 1e-3 and the score keeps growing with the distance
// from normal (a sample 10 robust standard deviations out scores ≥ 0.99;
// TestMagnitudeTenSigma). [Dist] computes p directly. EWMA, DSPOT and
// CUSUM turn their statistics into a severity r (1 at the detector's
// alarm level) and report r²/(1+r²); [Series] calibrates those against
// the detector's own history on the series (the empirical share of past
// scores at least as high, extended beyond the highest score seen by an
// exponential tail), giving their p.
//
// With the default "sidak" fusion a [Series] takes the smallest p of its
// detectors and a [Scorer] the smallest over its series and PCA, each
// Šidák-corrected for the number of inputs (1 − (1 − p)^m), so 0.5 means
// an expected rate of PRef per sample per series and per row per host
// whatever the number of series (TestFusedHostRate: 10, 100 and 500
// series). fusion.smooth averages the host's log p over the last rows.
// The "max", "mean" and "noisy_or" fusions of calibrated scores remain;
// the agent uses "max" without Dist (see edge/agent).
//
// With training data ([Scorer.Train]) the online detectors learn the
// rows as they would online and each column's [Dist] is fitted to all of
// them (kept until the first Score, then freed).
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
// detect is a leaf library: standard library and go.yaml.in/yaml/v3 only. It
// must not import NATS, Redis, Badger, edge or aggregator packages, keeps no
// globals and reads no flags.
package detect
