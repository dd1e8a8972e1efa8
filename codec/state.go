package codec

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The packed statistics of one series, in codes of the frame's quantizer
// (or float64 bits when the series travels exactly).
const (
	fSum = iota // quantized: the window mean, the sum is mean·count
	fMin
	fMax
	fFirst
	fLast
	fQ50
	fQ90
	fQ99
	nFields
)

// entry is what both ends remember of one series after a frame.
type entry struct {
	count uint32
	flags uint8
	v     [nFields]uint64 // codes (as uint64) or float64 bits (flagExact)
	// raw is a counter's raw last value as the decoder has it: exact from a
	// keyframe or a reset on, then grown by quantized increments (see
	// putCounter). For a gauge it is the window's last value as the
	// decoder has it (the level: exact when the window was flat or exact,
	// else moved by quantized steps, see putLevel). truth is the agent's
	// exact value (the encoder's input; equal to raw at the decoder).
	raw, truth float64
	inc        int64 // code of the last quantized increment (a gauge's: of the step's magnitude), 0 if none
}

const (
	flagQuantiles uint8 = 1 << iota // v[fQ50..fQ99] are set
	flagExact                       // v holds float64 bits, not codes
	flagCounter                     // raw holds the counter's last value
	flagFlat                        // every statistic is the one value v[0] (float64 bits), exactly
	flagNoFirst                     // the window's first value was not sent (decodes as NaN)
	flagLevel                       // a quantized gauge whose last value is raw, sent as a step from the base's (putLevel; frame version 4)
	flagsKnown    = flagQuantiles | flagExact | flagCounter | flagFlat | flagNoFirst | flagLevel
)

// state is one side's memory of a stream: the dictionary and the values of
// the series in the last frame. The encoder and the decoder of a stream
// hold identical states after every frame.
type state struct {
	seq  uint64
	q    quantizer
	dict map[uint32]*Series
	cur  map[uint32]*entry
}

func newState(p float64) *state {
	return &state{q: newQuantizer(p), dict: map[uint32]*Series{}, cur: map[uint32]*entry{}}
}

// MarshalState returns d's state as a keyframe (nil before the first
// frame), so another decoder — another aggregator taking over the stream —
// can continue with the next delta frame after [Decoder.UnmarshalState].
func (d *Decoder) MarshalState(dst []byte) []byte {
	if d.st == nil {
		return dst
	}
	body := pack(nil, newState(d.st.q.p), d.st, nil, nil)
	f := Frame{Version: FrameVersion, Agent: "state", Site: "state", Host: "state", Seq: d.st.seq, Width: 1,
		Precision: d.st.q.p, RawLen: uint32(len(body)), Body: body}
	if zw, err := stateZstd(); err == nil {
		f.Compression, f.Body = BodyZstd, zw.EncodeAll(body, nil)
	}
	out, _ := f.MarshalMsg(dst) // plain data: cannot fail
	return out
}

// stateZstd compresses saved decoder states: fast, with the dictionary
// (a state is a keyframe body). EncodeAll is safe for concurrent use.
var stateZstd = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDictRaw(zdictID, zdict),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
})

// UnmarshalState replaces d's state with one from MarshalState.
func (d *Decoder) UnmarshalState(p []byte) error {
	f, err := ParseFrame(p)
	if err != nil {
		return fmt.Errorf("codec: decoder state: %w", err)
	}
	st, _, err := unpackFrame(f, newState(f.Precision))
	if err != nil {
		return fmt.Errorf("codec: decoder state: %w", err)
	}
	d.st = st
	return nil
}
