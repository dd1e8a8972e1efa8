package codec

import (
	"errors"
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// Sentinel errors that callers branch on. Errors returned by Decode wrap one
// of them.
var (
	// ErrVersion means the batch was written with a schema version this
	// build does not read.
	ErrVersion = errors.New("codec: unsupported batch version")
	// ErrMalformed means the bytes are not a well-formed batch: truncated,
	// wrong types, trailing bytes, or references that do not resolve.
	ErrMalformed = errors.New("codec: malformed batch")
)

// MaxBatchBytes bounds the size of a batch Decode accepts.
const MaxBatchBytes = 8 << 20

// Encode appends the msgp encoding of b to dst and returns it. It sets
// b.Version to Version.
func Encode(dst []byte, b *Batch) ([]byte, error) {
	b.Version = Version
	out, err := b.MarshalMsg(dst)
	if err != nil {
		return dst, fmt.Errorf("codec: encode batch seq %d: %w", b.Seq, err)
	}
	return out, nil
}

// Decode parses one batch. It reads the version first and refuses anything
// but Version before decoding the rest, then checks that the batch is
// internally consistent (see Batch.Validate).
func Decode(p []byte) (*Batch, error) {
	if len(p) > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds limit %d", ErrMalformed, len(p), MaxBatchBytes)
	}
	v, err := peekVersion(p)
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("%w: got version %d, this build reads %d", ErrVersion, v, Version)
	}
	b := new(Batch)
	rest, err := b.UnmarshalMsg(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after batch", ErrMalformed, len(rest))
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// peekVersion reads the "v" field, which Encode always writes first.
func peekVersion(p []byte) (uint16, error) {
	sz, p, err := msgp.ReadMapHeaderBytes(p)
	if err != nil {
		return 0, fmt.Errorf("%w: batch header: %w", ErrMalformed, err)
	}
	if sz == 0 {
		return 0, fmt.Errorf("%w: empty batch map", ErrMalformed)
	}
	key, p, err := msgp.ReadMapKeyZC(p)
	if err != nil {
		return 0, fmt.Errorf("%w: first key: %w", ErrMalformed, err)
	}
	if string(key) != "v" {
		return 0, fmt.Errorf("%w: first field is %q, want the version \"v\"", ErrMalformed, key)
	}
	v, _, err := msgp.ReadUint16Bytes(p)
	if err != nil {
		return 0, fmt.Errorf("%w: version: %w", ErrMalformed, err)
	}
	return v, nil
}

// Validate checks what the msgp types cannot: identities are present, the
// window is sane, labels come in pairs, and every rollup refers to a series
// in the batch exactly once.
func (b *Batch) Validate() error {
	switch {
	case b.Agent == "" || b.Site == "" || b.Host == "":
		return fmt.Errorf("%w: agent, site and host must be set (got %q, %q, %q)", ErrMalformed, b.Agent, b.Site, b.Host)
	case b.Seq == 0:
		return fmt.Errorf("%w: seq must be ≥ 1", ErrMalformed)
	case b.Width <= 0:
		return fmt.Errorf("%w: window width %d ms must be > 0", ErrMalformed, b.Width)
	case b.Start%b.Width != 0:
		return fmt.Errorf("%w: window start %d is not aligned to width %d", ErrMalformed, b.Start, b.Width)
	}
	ids := make(map[uint32]int, len(b.Series))
	for i, s := range b.Series {
		if s.Name == "" {
			return fmt.Errorf("%w: series %d has no name", ErrMalformed, i)
		}
		if len(s.Labels)%2 != 0 {
			return fmt.Errorf("%w: series %q has an odd number of label strings (%d)", ErrMalformed, s.Name, len(s.Labels))
		}
		if s.Kind > Counter {
			return fmt.Errorf("%w: series %q has unknown kind %d", ErrMalformed, s.Name, s.Kind)
		}
		if _, dup := ids[s.ID]; dup {
			return fmt.Errorf("%w: series id %d defined twice", ErrMalformed, s.ID)
		}
		ids[s.ID] = 0
	}
	for _, r := range b.Rollups {
		n, ok := ids[r.ID]
		if !ok {
			return fmt.Errorf("%w: rollup refers to undefined series id %d", ErrMalformed, r.ID)
		}
		if n != 0 {
			return fmt.Errorf("%w: series id %d has two rollups", ErrMalformed, r.ID)
		}
		ids[r.ID] = 1
		if len(r.Quantiles) != 0 && len(r.Quantiles) != len(QuantileLevels) {
			return fmt.Errorf("%w: series id %d has %d quantiles, want 0 or %d", ErrMalformed, r.ID, len(r.Quantiles), len(QuantileLevels))
		}
	}
	for i, e := range b.Events {
		switch {
		case e.Kind != Open && e.Kind != Close:
			return fmt.Errorf("%w: event %d has unknown kind %d", ErrMalformed, i, e.Kind)
		case e.Series == "":
			return fmt.Errorf("%w: event %d names no series", ErrMalformed, i)
		case len(e.Labels)%2 != 0:
			return fmt.Errorf("%w: event %d has an odd number of label strings", ErrMalformed, i)
		case len(e.Context) > 0 && e.Step <= 0:
			return fmt.Errorf("%w: event %d has context but step %d", ErrMalformed, i, e.Step)
		case len(e.Context) > 3600:
			return fmt.Errorf("%w: event %d carries %d context samples, limit 3600", ErrMalformed, i, len(e.Context))
		}
	}
	return nil
}

// MsgID is the JetStream Nats-Msg-Id of a batch: agent/sequence. Retries
// and spool replays reuse it, so the stream stores each batch once.
func MsgID(agent string, seq uint64) string {
	return fmt.Sprintf("%s/%d", agent, seq)
}
