// Package codec owns Edgepulse's wire format: the msgp-encoded Batch that an
// agent spools once per host and window, the Frame that carries it on the
// uplink packed against the frame before (series dictionary, delta and
// quantized values, zstd; see docs/wire.md), and the schema versions that
// guard both.
//
// # Types
//
// A [Batch] carries one host's results for one window: who sent it (agent,
// site, host), its sequence number (the agent's spool order, also the
// JetStream Nats-Msg-Id), the window (start and width in Unix milliseconds),
// the series it mentions ([Series]: name, kind and labels) and one [Rollup]
// per series (count, sum, min, max, first, last and quantiles).
//
// The Go types are generated into batch_gen.go and frame_gen.go by
// tinylib/msgp (go generate ./codec); the generated files are committed,
// as is the zstd dictionary zdict.bin (testbench/gendict, regenerated only
// by hand with a new dictionary id).
//
// # Frames
//
// An [Encoder] turns one agent's batches into frames, each packed against
// the previous one (or a keyframe, which stands alone); a [Decoder] turns
// them back, and refuses a delta frame whose base it does not hold with
// [ErrBaseMissing]. [WireOptions] switch each technique on or off and set
// the relative precision of the statistics. A Decoder's state can be
// saved and restored ([Decoder.MarshalState]), so another process can
// continue an agent's chain.
//
// # Chunks
//
// The aggregator's regional store keeps each series' windows ([Window])
// as chunks: per series and hour a concatenation of range-coded segments
// ([AppendSegment], an hour's windows at a few bytes each) and
// self-contained records ([AppendRecord], one late or open-hour window),
// lossless to the bit; [DecodeChunk] reads any such concatenation, the
// last of several windows with one End winning (format: chunk.go,
// docs/chunks.md).
//
// # Decoding
//
// [ParseFrame] and [Decoder.Decode] are how bytes from the network become a
// Batch; [Decode] reads a spooled batch; [DecodeChunk] a stored chunk. Each checks
// the schema version before anything else and rejects unknown versions with
// [ErrVersion], truncated or malformed input with [ErrMalformed], and
// trailing bytes. Every decoder here has a go test -fuzz target with its
// corpus in testdata/fuzz.
//
// # Files
//
// options.go ([WireOptions]), encoder.go (pack), decoder.go (unpack),
// state.go (what both ends remember, and its save/restore), quantizer.go
// (statistics as codes), counters.go and levels.go (a counter's and a
// gauge's last value with error feedback), events.go, reader.go (the
// bounds-checked byte reader every unpacker uses). chunk.go and
// chunkdecode.go are the stored chunks; rangecoder.go, symbols.go, prior.go
// and gridexp.go hold the range coder and its models; names.go the metric
// and label name rule.
// subjects.go, configpush.go and history.go are the JSON request-reply
// protocol between aggregators and agents (subject names, configuration
// layers, raw history), shared here because edge and aggregator must not
// import each other.
//
// # Concurrency
//
// Values are plain data. An Encoder or a Decoder belongs to one goroutine
// at a time. The package's shared state is read-only after first use and
// safe for concurrent use: the zstd decoder and the decoder-state encoder
// (sync.OnceValues), the range coder's probability tables and exponent
// grids (sync.OnceValue), and two sync.Pools of scratch coders and tables.
//
// # Imports
//
// codec is a leaf library: it must not import NATS, Redis, Badger, edge or
// aggregator. Beyond constants, sentinel errors and the embedded
// dictionary and prior, its only package-level values are the lazily built,
// immutable tables and pools above; nothing is configured through them.
package codec
