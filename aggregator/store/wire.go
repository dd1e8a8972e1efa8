package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// WireStateTTL is how long an agent's decoder state outlives its last
// frame: longer than the stream keeps a frame waiting (7 days), so a delta
// that waited out an aggregator outage still finds its base.
const WireStateTTL = 8 * 24 * time.Hour

// AppliedSeqs is how many of an agent's newest applied sequence numbers
// <p>ws:{agent} remembers.
const AppliedSeqs = 1024

// WireStateFor returns the decoder state last saved for agent (see
// codec.Decoder.MarshalState; nil when there is none; key <p>w:{agent},
// written with the agent's newest frame by Write.SetWireState), the
// frames saved after it (<p>wf:{agent}, Write.AppendWireFrames; apply
// them in order, stopping at one whose base is not the state reached),
// and whether frame seq is recorded as applied (in <p>ws:{agent},
// written with the frame's windows): a redelivered frame older than the
// saved state was applied when it is. Keys of the layout before hash tags
// (<p>w:<agent>, <p>ws:<agent>) are read when the tagged ones are
// missing, so an upgraded aggregator continues the agents' chains.
func (s *writer) WireStateFor(ctx context.Context, agent string, seq uint64) (state []byte, frames [][]byte, done bool, err error) {
	q := strconv.FormatUint(seq, 10)
	pipe := s.rdb.Pipeline()
	st := pipe.Get(ctx, s.key("w:", tag(agent)))
	ch := pipe.Get(ctx, s.key("wf:", tag(agent)))
	sc := pipe.ZScore(ctx, s.key("ws:", tag(agent)), q)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, false, fmt.Errorf("store: wire state of %s: %w", agent, err)
	}
	p, err := st.Bytes()
	if errors.Is(err, redis.Nil) {
		p = nil
	}
	done = sc.Err() == nil
	if p == nil && !done {
		p, done, err = s.legacyWireState(ctx, agent, q)
		return p, nil, done, err
	}
	c, _ := ch.Bytes()
	for len(c) > 0 {
		n, k := binary.Uvarint(c)
		if k <= 0 || n > uint64(len(c)-k) {
			s.corrupt.Add(1)
			break // the frames before it stand
		}
		frames = append(frames, c[k:k+int(n)])
		c = c[k+int(n):]
	}
	return p, frames, done, nil
}

// legacyWireState reads the untagged keys of the layout before chunks.
func (s *writer) legacyWireState(ctx context.Context, agent, seq string) ([]byte, bool, error) {
	pipe := s.rdb.Pipeline()
	st := pipe.Get(ctx, s.key("w:", agent))
	sc := pipe.ZScore(ctx, s.key("ws:", agent), seq)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("store: wire state of %s: %w", agent, err)
	}
	p, err := st.Bytes()
	if errors.Is(err, redis.Nil) {
		p = nil
	}
	return p, sc.Err() == nil, nil
}
