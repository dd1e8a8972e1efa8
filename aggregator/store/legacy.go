package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The layout before chunks kept each window as a text member of a ZSET
// per series (<p>d:<sid>, hourly <p>h:<sid>): "end|width|count|sum|min|
// max|first|last[|p50|p90|p99]". Those keys are not migrated: they are
// read alongside the chunks until they expire (their TTL was the
// retention, refreshed by writes that no longer come). Open looks for
// one in the background; only while one exists do reads pay for them.

// findLegacy sets s.legacy when a key of the old layout exists.
func (s *reader) findLegacy(ctx context.Context) {
	for _, pat := range []string{s.key("d:*"), s.key("h:*")} {
		var found bool
		err := s.forEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			it := c.Scan(ctx, 0, pat, 1000).Iterator()
			if it.Next(ctx) {
				found = true
			}
			return it.Err()
		})
		if err == nil && found {
			s.legacy.Store(true)
			return
		}
	}
}

// forEachMaster runs fn on every master (one for a standalone or
// Sentinel client).
func (s *reader) forEachMaster(ctx context.Context, fn func(context.Context, *redis.Client) error) error {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, fn)
	case *redis.Client:
		return fn(ctx, c)
	}
	return errors.New("store: unknown redis client")
}

// legacyPoints adds the old layout's windows of each series ending in
// [mint, maxt] under prefix (d: or h:) to out, where out has none of that
// end.
func (r *Reader) legacyPoints(ctx context.Context, prefix string, refs []SeriesRef, mint, maxt int64, out [][]Point) error {
	if !r.s.legacy.Load() {
		return nil
	}
	pipe := r.s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(refs))
	for i, ref := range refs {
		cmds[i] = pipe.ZRangeByScore(ctx, r.s.key(prefix, ref.ID), &redis.ZRangeBy{
			Min: strconv.FormatInt(mint, 10), Max: strconv.FormatInt(maxt, 10)})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: windows of the old layout: %w", err)
	}
	for i, c := range cmds {
		have := make(map[int64]bool, len(out[i]))
		for _, p := range out[i] {
			have[p.End] = true
		}
		added := false
		for _, m := range c.Val() {
			p, err := ParseMember(m)
			if err != nil {
				r.Corrupt++
				continue
			}
			if !have[p.End] {
				have[p.End] = true
				out[i] = append(out[i], p)
				added = true
			}
		}
		if added {
			sortPoints(out[i])
		}
	}
	return nil
}

// ParseMember decodes a ZSET member of the old layout.
func ParseMember(m string) (Point, error) {
	f := strings.Split(m, "|")
	if len(f) != 8 && len(f) != 11 {
		return Point{}, fmt.Errorf("store: member %q has %d fields, want 8 or 11", m, len(f))
	}
	var p Point
	var err error
	num := func(i int) float64 {
		if err != nil {
			return 0
		}
		var v float64
		v, err = strconv.ParseFloat(f[i], 64)
		return v
	}
	p.End = int64(num(0))
	p.Width = int64(num(1))
	p.Count = uint32(num(2))
	p.Sum, p.Min, p.Max, p.First, p.Last = num(3), num(4), num(5), num(6), num(7)
	if len(f) == 11 {
		p.P50, p.P90, p.P99, p.HasQuantiles = num(8), num(9), num(10), true
	}
	if err != nil {
		return Point{}, fmt.Errorf("store: member %q: %w", m, err)
	}
	return p, nil
}
