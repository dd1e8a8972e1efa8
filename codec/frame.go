package codec

//go:generate go tool msgp -file frame.go -o frame_gen.go -tests=false -io=false

import (
	"errors"
	"fmt"
	"math"

	"github.com/tinylib/msgp/msgp"
)

// FrameVersion is the schema version of a [Frame], the unit on the wire.
// (A [Batch], version [Version], is what the agent spools.)
//
// Version 4 added gauge levels with error feedback (a quantized gauge's
// last value travels like a counter's raw value; see docs/wire.md). A
// version 3 frame is a version 4 frame that never uses them, so this
// build reads both ([MinFrameVersion]).
const FrameVersion = 4

// MinFrameVersion is the oldest frame version this build reads.
const MinFrameVersion = 3

// ErrBaseMissing means a delta frame arrived for a decoder that does not
// hold the frame it was packed against (yet): retry it after the base, or
// drop it once the base cannot come any more.
var ErrBaseMissing = errors.New("codec: base frame not decoded")

// Body compressions of a Frame.
const (
	BodyRaw  uint8 = 0
	BodyZstd uint8 = 1
)

// Frame is one host's window on the wire: a [Batch] packed against the
// previous frame of the same agent (or against nothing: a keyframe).
// Who, which sequence number and which window travel in the clear, so a
// receiver can route, de-duplicate and check a frame before it unpacks the
// body; names, labels and values are in the body (see [Encoder]).
//
//msgp:tuple Frame
type Frame struct {
	Version uint16
	Agent   string
	Site    string
	Host    string
	Seq     uint64
	// Base is the Seq of the frame this one is packed against; 0 for a
	// keyframe, which decodes on its own.
	Base  uint64
	Start int64
	Width int64
	Late  uint32
	// Precision is the relative precision the statistics were quantized
	// with (0: exact), see [WireOptions.Precision].
	Precision float64
	// Compression of Body: BodyRaw, BodyZstd or BodyModel.
	Compression uint8
	// RawLen is Body's length before compression.
	RawLen uint32
	Body   []byte
}

// ParseFrame reads a frame's header and checks it; the body stays packed.
// Errors wrap [ErrVersion] or [ErrMalformed].
func ParseFrame(p []byte) (*Frame, error) {
	if len(p) > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds limit %d", ErrMalformed, len(p), MaxBatchBytes)
	}
	f := new(Frame)
	rest, err := f.UnmarshalMsg(p)
	if err != nil {
		if v, verr := peekFrameVersion(p); verr == nil && (v < MinFrameVersion || v > FrameVersion) {
			return nil, fmt.Errorf("%w: got frame version %d, this build reads %d to %d", ErrVersion, v, MinFrameVersion, FrameVersion)
		}
		return nil, fmt.Errorf("%w: frame: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after frame", ErrMalformed, len(rest))
	}
	if f.Version < MinFrameVersion || f.Version > FrameVersion {
		return nil, fmt.Errorf("%w: got frame version %d, this build reads %d to %d", ErrVersion, f.Version, MinFrameVersion, FrameVersion)
	}
	switch {
	case f.Agent == "" || f.Site == "" || f.Host == "":
		return nil, fmt.Errorf("%w: agent, site and host must be set (got %q, %q, %q)", ErrMalformed, f.Agent, f.Site, f.Host)
	case f.Seq == 0:
		return nil, fmt.Errorf("%w: seq must be ≥ 1", ErrMalformed)
	case f.Base >= f.Seq:
		return nil, fmt.Errorf("%w: base %d is not before seq %d", ErrMalformed, f.Base, f.Seq)
	case f.Width <= 0 || f.Start%f.Width != 0:
		return nil, fmt.Errorf("%w: window start %d, width %d: width must be > 0 and start aligned to it", ErrMalformed, f.Start, f.Width)
	case !(f.Precision >= 0 && f.Precision <= MaxPrecision):
		return nil, fmt.Errorf("%w: precision %v outside [0, %v]", ErrMalformed, f.Precision, MaxPrecision)
	case f.Compression > BodyModel:
		return nil, fmt.Errorf("%w: unknown body compression %d", ErrMalformed, f.Compression)
	case f.RawLen > MaxBatchBytes:
		return nil, fmt.Errorf("%w: body of %d bytes exceeds limit %d", ErrMalformed, f.RawLen, MaxBatchBytes)
	}
	return f, nil
}

// IsFrame tells a frame (a msgp array) from a spooled Batch (a msgp map)
// by the first byte, for tools that read either.
func IsFrame(p []byte) bool {
	return len(p) > 0 && (p[0]&0xf0 == 0x90 || p[0] == 0xdc || p[0] == 0xdd)
}

// peekFrameVersion reads the first tuple element, whatever the tuple's
// length (a later version may add fields).
func peekFrameVersion(p []byte) (uint16, error) {
	_, p, err := msgp.ReadArrayHeaderBytes(p)
	if err != nil {
		return 0, err
	}
	v, _, err := msgp.ReadUint16Bytes(p)
	return v, err
}

// MaxPrecision bounds WireOptions.Precision: coarser than 5 % is not a
// summary any more.
const MaxPrecision = 0.05

// quantizer maps values to integer codes on a logarithmic grid with
// relative spacing 2p, so code→value is within p (relative) of the value.
// Codes, not floats, are what both ends keep as state: they are exact
// integers on every architecture.
type quantizer struct {
	p      float64
	scale  float64 // 1 / ln(1+2p)
	offset int64   // codes of |v| ≥ tiny are ≥ 1
}

const (
	quantTiny = 1e-9  // smaller magnitudes (but 0) travel exactly
	quantHuge = 1e300 // larger ones (and ±Inf, NaN) too
)

func newQuantizer(p float64) quantizer {
	if p == 0 {
		return quantizer{}
	}
	s := 1 / math.Log1p(2*p)
	return quantizer{p: p, scale: s, offset: int64(math.Ceil(-math.Log(quantTiny)*s)) + 1}
}

// code returns v's code, or false when v must travel exactly.
func (q quantizer) code(v float64) (int64, bool) {
	if v == 0 {
		return 0, true
	}
	a := math.Abs(v)
	if !(a >= quantTiny && a <= quantHuge) {
		return 0, false
	}
	k := int64(math.Round(math.Log(a)*q.scale)) + q.offset
	if v < 0 {
		k = -k
	}
	return k, true
}

// value is the representative of code k.
func (q quantizer) value(k int64) float64 {
	switch {
	case k == 0:
		return 0
	case k < 0:
		return -math.Exp(float64(-k-q.offset) / q.scale)
	}
	return math.Exp(float64(k-q.offset) / q.scale)
}

// valid tells whether k can be a code of this quantizer.
func (q quantizer) valid(k int64) bool {
	if k < 0 {
		k = -k
	}
	return k == 0 || k >= 1 && float64(k-q.offset)/q.scale <= math.Log(quantHuge)+1
}
