package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The label index. Every series written has, besides its data:
//
//	<p>series           HASH sid → "name\x00k\x00v…"
//	<p>names            SET  metric names
//	<p>name:<metric>    SET  sids of that metric (the __name__ postings)
//	<p>lnames           SET  label names
//	<p>lv:<label>       SET  values seen for that label
//	<p>pl:<label>=<v>   SET  sids whose label has that value (postings)
//	<p>seen             ZSET sid → the last hour (Unix ms) it was written
//
// A selector reads the postings of its equality matchers and intersects
// them, so {instance="h"} touches that host's series only. Entries are
// written with the series' first window after a process start, and again
// once an hour per agent (so an index lost with a Redis that restarted
// empty is rebuilt within the hour); Sweep removes the series not
// written for longer than both tiers keep data.

// labelIndex reads the series index (<p>series, the postings, label
// names and values) and sweeps series gone from it; Write adds to it.
type labelIndex struct{ *conn }

// SeriesRef is one stored series: its id, metric name, labels and the
// agent whose keys hold its data.
type SeriesRef struct {
	ID     string
	Name   string
	Labels []string // sorted name/value pairs, without __name__
	Agent  string   // site/instance: the hash tag of its data keys
}

// Names lists the stored metric names.
func (s *labelIndex) Names(ctx context.Context) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("names")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: names: %w", err)
	}
	return v, nil
}

// SeriesOf returns the series of the given metric names.
func (s *labelIndex) SeriesOf(ctx context.Context, names []string) ([]SeriesRef, error) {
	pairs := make([][2]string, len(names))
	for i, n := range names {
		pairs[i] = [2]string{MetricName, n}
	}
	sids, err := s.postings(ctx, pairs, false)
	if err != nil {
		return nil, err
	}
	return s.Series(ctx, sids)
}

// MetricName is the label name of the metric name in selectors.
const MetricName = "__name__"

// Postings returns the sids that have every one of the label=value pairs
// (the intersection of their postings; "__name__" is the metric name),
// sorted.
func (s *labelIndex) Postings(ctx context.Context, pairs [][2]string) ([]string, error) {
	return s.postings(ctx, pairs, true)
}

// UnionPostings returns the sids that have any of the pairs, sorted.
func (s *labelIndex) UnionPostings(ctx context.Context, pairs [][2]string) ([]string, error) {
	return s.postings(ctx, pairs, false)
}

func (s *labelIndex) postings(ctx context.Context, pairs [][2]string, intersect bool) ([]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	// SMEMBERS each and combine here: SINTER needs its keys in one
	// Redis Cluster slot.
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(pairs))
	for i, p := range pairs {
		cmds[i] = pipe.SMembers(ctx, s.postingKey(p[0], p[1]))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("store: postings of %d label values: %w", len(pairs), err)
	}
	var out []string
	for i, c := range cmds {
		v := c.Val()
		slices.Sort(v)
		switch {
		case i == 0:
			out = v
		case intersect:
			out = intersectSorted(out, v)
		default:
			out = append(out, v...)
		}
	}
	if !intersect {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out, nil
}

func intersectSorted(a, b []string) []string {
	out := a[:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i], b[j]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// Series returns the labels of the given sids (unknown ones are left
// out).
func (s *labelIndex) Series(ctx context.Context, sids []string) ([]SeriesRef, error) {
	if len(sids) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.key("series"), sids...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: labels of %d series: %w", len(sids), err)
	}
	out := make([]SeriesRef, 0, len(sids))
	for i, v := range vals {
		canon, ok := v.(string)
		if !ok {
			continue
		}
		r, err := parseCanon(sids[i], canon)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseCanon turns a stored series text into a SeriesRef.
func parseCanon(sid, canon string) (SeriesRef, error) {
	parts := strings.Split(canon, "\x00")
	if len(parts)%2 != 1 {
		return SeriesRef{}, fmt.Errorf("store: series %s has malformed labels %q", sid, canon)
	}
	r := SeriesRef{ID: sid, Name: parts[0], Labels: parts[1:]}
	var site, host string
	for i := 0; i+1 < len(r.Labels); i += 2 {
		switch r.Labels[i] {
		case "site":
			site = r.Labels[i+1]
		case "instance":
			host = r.Labels[i+1]
		}
	}
	r.Agent = site + "/" + host
	return r, nil
}

// LabelNames lists the stored label names.
func (s *labelIndex) LabelNames(ctx context.Context) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("lnames")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: label names: %w", err)
	}
	return v, nil
}

// LabelValues lists the values stored for a label.
func (s *labelIndex) LabelValues(ctx context.Context, name string) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("lv:", name)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: label %q values: %w", name, err)
	}
	return v, nil
}

// sweepBatch is how many series one Sweep round trip removes.
const sweepBatch = 1000

// Sweep removes the index entries of every series whose newest window
// was written before now − the longer of the two retentions (so neither
// tier holds data of it any more): its series text, its postings, its
// seen entry; and a metric name, label value or label name no series has
// any more. It returns how many series it removed. Sweeping is idempotent
// and any member may run it; a series written again after being swept is
// indexed again by the write path within the hour (index entries are
// rewritten once an agent-hour).
func (s *labelIndex) Sweep(ctx context.Context, now time.Time) (int, error) {
	keep := max(s.opts.Retention, s.opts.HourlyRetention)
	// seen holds the hour a window started in; its hourly window lands in
	// a day block that ends up to 24 h later.
	before := now.Add(-keep - 25*time.Hour).UnixMilli()
	removed := 0
	for {
		sids, err := s.rdb.ZRangeByScore(ctx, s.key("seen"), &redis.ZRangeBy{
			Min: "-inf", Max: "(" + strconv.FormatInt(before, 10), Count: sweepBatch}).Result()
		if err != nil {
			return removed, fmt.Errorf("store: sweeping the index: %w", err)
		}
		if len(sids) == 0 {
			return removed, nil
		}
		if err := s.sweep(ctx, sids); err != nil {
			return removed, err
		}
		removed += len(sids)
	}
}

// sweep removes the index entries of sids.
func (s *labelIndex) sweep(ctx context.Context, sids []string) error {
	vals, err := s.rdb.HMGet(ctx, s.key("series"), sids...).Result()
	if err != nil {
		return fmt.Errorf("store: sweeping the index: %w", err)
	}
	type pair struct{ set, suffix, member string } // a shared member and its postings key
	shared := map[pair]string{}
	pipe := s.rdb.Pipeline()
	for i, v := range vals {
		if canon, ok := v.(string); ok {
			r, err := parseCanon(sids[i], canon)
			if err == nil {
				pipe.SRem(ctx, s.key("name:", r.Name), r.ID)
				shared[pair{"names", "", r.Name}] = s.key("name:", r.Name)
				for j := 0; j+1 < len(r.Labels); j += 2 {
					pk := s.postingKey(r.Labels[j], r.Labels[j+1])
					pipe.SRem(ctx, pk, r.ID)
					shared[pair{"lv:", r.Labels[j], r.Labels[j+1]}] = pk
				}
			}
		}
		pipe.HDel(ctx, s.key("series"), sids[i])
	}
	pipe.ZRem(ctx, s.key("seen"), toAny(sids)...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: sweeping the index: %w", err)
	}
	// The names and label values whose postings are empty now.
	pairs := make([]pair, 0, len(shared))
	cards := make([]*redis.IntCmd, 0, len(shared))
	pipe = s.rdb.Pipeline()
	for p, k := range shared {
		pairs = append(pairs, p)
		cards = append(cards, pipe.SCard(ctx, k))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: sweeping the index: %w", err)
	}
	pipe = s.rdb.Pipeline()
	n := 0
	for i, c := range cards {
		if c.Val() == 0 {
			pipe.SRem(ctx, s.key(pairs[i].set, pairs[i].suffix), pairs[i].member)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: sweeping the index: %w", err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
