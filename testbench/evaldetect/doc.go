// Command evaldetect evaluates the detect package on the ASD dataset
// (12 servers × 19 metrics, labelled) through the scoring CLI contract: for
// each server it execs the CLI (edgepulse-detect, built from
// edge/internal/detectcli/cmd, which calls the same detectcli.Run as
// `edgepulse-agent detect`; or the command given with -bin) to score the training file
// online (for a label-blind threshold) and the test file after learning the
// training file, then compares the flagged points with the labels. A plain
// windowed-Gaussian baseline is computed and thresholded the same way in
// the same run. It prints a table per server, the totals and one line
//
//	RESULT asd_point_f1=<x> asd_segment_recall=<x> asd_false_alarms_per_day=<x> baseline_point_f1=<x>
//
// Usage:
//
//	go run ./testbench/evaldetect [-data DIR] [-config FILE] [-quantile Q] [-window W]
//
// Tuning (-tune) never opens a test file or label: it injects synthetic
// anomalies into the held-out end of each training file (tune.go). The
// method and the numbers are in docs/detect-eval.md.
//
// It is a single-goroutine program with no state beyond its run. It must
// not import NATS, Redis or Badger; it reaches the CLI only by exec.
package main
