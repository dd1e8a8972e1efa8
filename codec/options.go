package codec

import (
	"fmt"
)

// WireOptions choose how an [Encoder] packs batches into frames. Each
// technique can be turned off on its own so the backhaul meter can show
// what each saves.
type WireOptions struct {
	// Dictionary sends a series' name, kind and labels once (in the first
	// frame that mentions it, and in every keyframe) and only its numeric
	// id after that. Off: every frame repeats every name.
	Dictionary bool `yaml:"dictionary"`
	// Delta packs each value against the same series' value in the
	// previous frame; a series whose values did not change costs a few
	// zero bytes. Off: every frame is a keyframe.
	Delta bool `yaml:"delta"`
	// Precision is the relative precision the statistics travel with: each
	// of sum, min, max, first, last and the quantiles arrives within
	// Precision of the agent's value (the sum via the window mean), and a
	// counter's raw value within Precision of its growth over the window
	// (so rate() is within Precision). 0 sends them exactly. Counts, and
	// windows whose statistics are all one value, are always exact.
	// The quantiles themselves are estimates within the sketch's relative
	// accuracy (1 % by default), so a precision well below that loses
	// nothing the sketch had.
	Precision float64 `yaml:"precision"`
	// Compress compresses each frame body with zstd (with Model on: the
	// dictionary and events, where that makes them smaller).
	Compress bool `yaml:"compress"`
	// Model range-codes the values (flags, counts, statistics, counters)
	// with an adaptive binary context model instead of writing them as
	// bytes for zstd: each value is coded in a context of what it is (which
	// statistic, gauge or counter) and how far apart the series' statistics
	// were in the previous window, starting from probabilities counted over
	// recorded agents (codec/wireprior.bin). A third smaller than zstd on
	// the same values.
	Model bool `yaml:"model"`
	// ZstdDict primes zstd with codec's dictionary (zdict.bin: the body of
	// a keyframe of the agent's default collectors), so names and labels
	// every agent sends compress even in a keyframe.
	ZstdDict bool `yaml:"zstd_dict"`
	// First sends each window's first value. The summary a user asks of a
	// window is count, sum, min, max, last and the quantiles; first costs
	// about a tenth of a frame (a counter's first rate is a random sample),
	// so it stays home unless asked for: off, a decoded First is NaN.
	First bool `yaml:"first"`
	// Keyframe makes every Keyframe-th frame a keyframe, so a receiver
	// that lost its state recovers within that many windows even if it
	// cannot ask for one (the aggregator asks, on
	// ep.agent.<site>.<host>.keyframe, when a chain breaks). 0: only the
	// first frame (and the first after a Reset).
	Keyframe int `yaml:"keyframe"`
}

// DefaultWireOptions returns every technique on, 1 % precision (the
// quantile sketch's own relative accuracy) and a keyframe every 360 frames
// (six hours of 60 s windows: a keyframe is about 4 KB, so a 10 B per
// host-minute insurance; the aggregator asks for one when it needs it).
func DefaultWireOptions() WireOptions {
	return WireOptions{Dictionary: true, Delta: true, Precision: 0.01, Compress: true, ZstdDict: true, Model: true, Keyframe: 360}
}

// Validate names the first field out of range.
func (o WireOptions) Validate() error {
	switch {
	case !(o.Precision >= 0 && o.Precision <= MaxPrecision):
		return fmt.Errorf("codec: wire precision %v must be between 0 and %v", o.Precision, MaxPrecision)
	case o.Keyframe < 0 || o.Keyframe > 100_000:
		return fmt.Errorf("codec: wire keyframe %d must be between 0 and 100000", o.Keyframe)
	}
	return nil
}
