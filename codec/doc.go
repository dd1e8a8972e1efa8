// Package codec owns Edgepulse's wire format: the msgp-encoded Batch that an
// agent publishes once per host and window, and the schema version that
// guards it.
//
// # Types
//
// A [Batch] carries one host's results for one window: who sent it (agent,
// site, host), its sequence number (the agent's spool order, also the
// JetStream Nats-Msg-Id), the window (start and width in Unix milliseconds),
// the series it mentions ([Series]: name, kind and labels) and one [Rollup]
// per series (count, sum, min, max, first, last and quantiles).
//
// The Go types are generated into batch_gen.go by tinylib/msgp
// (go generate ./codec); the generated file is committed.
//
// # Decoding
//
// [Decode] is the only way bytes from the network become a Batch: it checks
// the schema version before anything else and rejects unknown versions with
// [ErrVersion], truncated or malformed input with [ErrMalformed], and
// trailing bytes. Every decoder here has a go test -fuzz target with its
// corpus in testdata/fuzz.
//
// # Concurrency
//
// Values are plain data; nothing here is shared or synchronised.
//
// # Imports
//
// codec is a leaf library: it must not import NATS, Redis, Badger, edge or
// aggregator, and keeps no globals beyond constants and sentinel errors.
package codec
