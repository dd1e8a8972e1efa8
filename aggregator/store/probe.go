package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// probeTTL is how long a probe's key lives.
const probeTTL = time.Minute

// Probe checks that Redis answers and takes writes: a PING, then a SET of
// <p>probe:<member> (a fresh value, expiring after a minute), so a
// replica (READONLY), a full Redis under noeviction (OOM) or a lost ACL
// (NOPERM) fail it as they would fail the write path. ErrorReason
// classifies its error.
//
// The SET also returns the value it replaced (SET … GET): when that is
// not the one the previous probe wrote, Redis lost writes in between (it
// restarted empty or from an older snapshot, a failover lost the newest
// writes, or the key expired through a minute without probes), and Probe
// drops the store's write caches (ForgetWrites) so the index entries are
// written again; it reports that with lost = true.
func (s *health) Probe(ctx context.Context, member string) (lost bool, err error) {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return false, fmt.Errorf("PING: %w", err)
	}
	k := s.key("probe:", member)
	v := strconv.FormatInt(time.Now().UnixNano(), 36)
	old, err := s.rdb.SetArgs(ctx, k, v, redis.SetArgs{TTL: probeTTL, Get: true}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("SET %s: %w", k, err)
	}
	s.probeMu.Lock()
	prev := s.probeLast
	s.probeLast = v
	s.probeMu.Unlock()
	if prev != "" && old != prev {
		s.writes.ForgetWrites()
		return true, nil
	}
	return false, nil
}
