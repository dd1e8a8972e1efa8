package store

import (
	"context"
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
// <prefix>ws:<agent> remembers.
const AppliedSeqs = 1024

// WireStateFor returns the decoder state last saved for agent (see
// codec.Decoder.MarshalState; nil when there is none; key
// <prefix>w:<agent>, written by Write.SetWireState), and whether frame seq is recorded as applied (in
// <prefix>ws:<agent>, written with the frame's rollups, before the state):
// a redelivered frame older than the saved state was applied when it is.
func (s *Store) WireStateFor(ctx context.Context, agent string, seq uint64) ([]byte, bool, error) {
	pipe := s.rdb.Pipeline()
	st := pipe.Get(ctx, s.key("w:", agent))
	sc := pipe.ZScore(ctx, s.key("ws:", agent), strconv.FormatUint(seq, 10))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("store: wire state of %s: %w", agent, err)
	}
	p, err := st.Bytes()
	if errors.Is(err, redis.Nil) {
		p = nil
	}
	return p, sc.Err() == nil, nil
}

// MarkApplied queues recording that agent's frame seq is applied; Exec
// sends it only after the data pipeline (the rollups) succeeded, so the
// record implies them.
func (w *Write) MarkApplied(ctx context.Context, agent string, seq uint64) {
	k := w.s.key("ws:", agent)
	q := strconv.FormatUint(seq, 10)
	w.c.args("ZADD", k, q, q)
	if !w.marked[agent] {
		if w.marked == nil {
			w.marked = map[string]bool{}
		}
		w.marked[agent] = true
		w.trim = append(w.trim, k)
	}
}
