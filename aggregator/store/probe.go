package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// probeTTL is how long a probe's key lives.
const probeTTL = time.Minute

// Probe checks that Redis answers and takes writes: a PING, then a SET of
// <p>probe:<member> (the time, expiring after a minute), so a replica
// (READONLY), a full Redis under noeviction (OOM) or a lost ACL (NOPERM)
// fail it as they would fail the write path. ErrorReason classifies its
// error.
func (s *Store) Probe(ctx context.Context, member string) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("PING: %w", err)
	}
	k := s.key("probe:", member)
	if err := s.rdb.Set(ctx, k, strconv.FormatInt(time.Now().UnixMilli(), 10), probeTTL).Err(); err != nil {
		return fmt.Errorf("SET %s: %w", k, err)
	}
	return nil
}
