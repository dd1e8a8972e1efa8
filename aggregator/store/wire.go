package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// WireStateTTL is how long an agent's decoder state outlives its last
// frame: longer than the stream keeps a frame waiting (7 days), so a delta
// that waited out an aggregator outage still finds its base.
const WireStateTTL = 8 * 24 * time.Hour

// WireState returns the decoder state last saved for agent (see
// codec.Decoder.MarshalState), nil when there is none. Key: <prefix>w:<agent>.
func (s *Store) WireState(ctx context.Context, agent string) ([]byte, error) {
	p, err := s.rdb.Get(ctx, s.key("w:", agent)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: wire state of %s: %w", agent, err)
	}
	return p, nil
}

// SetWireState saves agent's decoder state, so whichever member owns the
// agent's partition next continues its frames.
func (s *Store) SetWireState(ctx context.Context, agent string, state []byte) error {
	if err := s.rdb.Set(ctx, s.key("w:", agent), state, WireStateTTL).Err(); err != nil {
		return fmt.Errorf("store: save wire state of %s: %w", agent, err)
	}
	return nil
}
