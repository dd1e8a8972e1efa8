// Package collect reads a host's /proc (and /sys) and turns what it finds
// into samples of named, labelled series.
//
// # Types
//
// A [Collector] reads one source (one file per source: stat_linux.go reads
// /proc/stat, meminfo_linux.go /proc/meminfo, …) and reports values through
// an [Emitter]. The Emitter interns every (name, labels) pair once in a
// [Registry], which hands out small numeric series ids, and appends
// queue.Sample values to a reusable slice, so a steady collection cycle
// allocates nothing. A [Set] runs all configured collectors once per tick
// and counts the sources that failed; a failing or missing source is
// skipped and the others go on.
//
// Metric names and labels follow node_exporter's wherever it has the same
// quantity, so existing dashboards carry over.
//
// Parsing is split from reading: parse functions take an io.Reader and are
// tested against fixture trees under testdata/.
//
// # Concurrency
//
// A Set, its Emitter and Registry are used by one goroutine (the collection
// loop). Registry.Desc may be called concurrently with interning.
//
// # Imports
//
// collect must not import the aggregator, NATS, Redis or Badger.
package collect
