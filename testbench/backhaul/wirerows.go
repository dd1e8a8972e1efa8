package backhaul

// wireRows are the technique rows of the compact wire format: one row
// per codec.WireOptions set, each adding one technique to the previous.
//
// TODO(meter): package codec's stateful frame encoder (WireOptions,
// NewEncoder, Encoder.Encode) is not on main yet; its rows go here:
// +dictionary, +delta, +precision, +zstd, default.
func wireRows() []Technique { return nil }
