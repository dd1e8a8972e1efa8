// Package detectcli is the front end of `edgepulse-agent detect`, the
// scoring CLI whose contract other tools call:
//
//	edgepulse-agent detect --in series.csv --out scores.csv \
//	    [--train normal.csv] [--config detect.yaml] [--per-column]
//
// It parses flags, opens files (`-` is stdin/stdout) and streams rows
// through a [detect.Scorer]; the CSV format and all scoring live in package
// detect. The output is a header `timestamp,anomaly_score` (plus one
// `score_<column>` per input column with --per-column) and one row per
// input row, in order, with scores in [0, 1] printed with 6 decimals. The
// timestamp is the input's `timestamp` column when present, else the 0-based
// row index.
//
// Exit codes: 0 success, 1 input, config or I/O error (message on stderr
// naming file, line and column), 2 usage error.
//
// The entry point is [Run]; it keeps no globals, so it can be called
// concurrently with distinct arguments and writers. It must not import
// NATS, Redis or Badger.
package detectcli
