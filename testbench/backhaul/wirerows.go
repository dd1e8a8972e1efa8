package backhaul

import (
	"fmt"

	"github.com/edgepulse/edgepulse/codec"
)

// wireRows are the technique rows of the frame format (codec.Encoder):
// each row turns one more technique on over the row above it, and every
// frame is decoded again by a codec.Decoder of its own and checked against
// the batch it came from (within the row's precision).
func wireRows() []Technique {
	def := codec.DefaultWireOptions()
	frame := func(name string, o codec.WireOptions, amortize int) Technique {
		return Technique{
			Name:      name,
			Precision: o.Precision,
			Amortize:  amortize,
			New: func() (func(*codec.Batch) ([]byte, error), error) {
				e, err := codec.NewEncoder(o)
				if err != nil {
					return nil, err
				}
				return func(b *codec.Batch) ([]byte, error) { return e.Encode(nil, b) }, nil
			},
			Decoder: func() func([]byte) (*codec.Batch, error) { return codec.NewDecoder().Decode },
		}
	}
	exact := codec.WireOptions{First: true}
	delta := exact
	delta.Delta = true
	dict := delta
	dict.Dictionary = true
	prec := dict
	prec.Precision = def.Precision
	zstd := prec
	zstd.Compress = true
	zdict := zstd
	zdict.ZstdDict = true
	nofirst := zdict
	nofirst.First = false
	model := nofirst
	model.Model = true
	return []Technique{
		frame("frame, no technique (exact, names every window)", exact, 0),
		frame("+ delta against the previous window", delta, 0),
		frame("+ series dictionary (names once, ids after)", dict, 0),
		frame(fmt.Sprintf("+ precision %.2g %% (counts exact, counters as increments)", def.Precision*100), prec, 0),
		frame("+ zstd body", zstd, 0),
		frame("+ zstd dictionary of the collectors' names", zdict, 0),
		frame("+ first value left home (wire.first off)", nofirst, 0),
		frame("+ values range-coded, trained context model (wire.model)", model, 0),
		frame(fmt.Sprintf("default (codec.DefaultWireOptions), keyframe every %d, amortized", def.Keyframe), def, def.Keyframe),
	}
}
