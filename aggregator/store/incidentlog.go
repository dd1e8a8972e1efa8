package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxRecentIncidents bounds one RecentIncidents answer.
const MaxRecentIncidents = 5000

// RecentIncidents returns the incident transitions (open and close
// events) recorded with a time in [since, until], newest first, at most
// limit of them (1 to MaxRecentIncidents). A document that cannot be
// decoded is skipped and counted in the second result.
func (s *incidentLog) RecentIncidents(ctx context.Context, since, until time.Time, limit int) ([]Incident, int, error) {
	if limit <= 0 || limit > MaxRecentIncidents {
		return nil, 0, fmt.Errorf("store: recent incidents: limit %d must be between 1 and %d", limit, MaxRecentIncidents)
	}
	docs, err := s.rdb.ZRevRangeByScore(ctx, s.key(incidentTag, "log"), &redis.ZRangeBy{
		Min: strconv.FormatInt(since.UnixMilli(), 10), Max: strconv.FormatInt(until.UnixMilli(), 10), Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("store: recent incidents: %w", err)
	}
	out := make([]Incident, 0, len(docs))
	bad := 0
	for _, d := range docs {
		var in Incident
		if err := json.Unmarshal([]byte(d), &in); err != nil {
			bad++
			continue
		}
		out = append(out, in)
	}
	return out, bad, nil
}

// The incident event log's bounds (Options.IncidentLogRetention and
// IncidentLogMax). Every incident script trims the log as it adds an
// event, so it never holds more than IncidentLogMax events nor, after a
// write, one older than the retention before the aggregator's clock.
const (
	DefaultIncidentLogRetention = 30 * 24 * time.Hour
	DefaultIncidentLogMax       = 50_000
)

// IncidentsTrimmed is the number of incident log events removed by its
// bounds (age or count) since the store opened.
func (s *incidentLog) IncidentsTrimmed() uint64 { return s.incTrimmed.Load() }
