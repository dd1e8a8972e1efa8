package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// MergeHour merges the minute windows of one hour into its hourly rollup
// ending at end (Unix ms): count and sum add up, min and max are the
// extremes, first is the earliest window's and last the latest's. The
// windows are taken in order of their ends (one per end, the last given
// wins), so the result depends only on the set of windows, never on the
// order they were read or written in.
//
// Windows do not carry sketches (codec.Rollup holds p50, p90 and p99
// values only), so the hourly quantiles are approximations: the hourly
// pX is the count-weighted X-th percentile of the windows' pX values. It
// is exact when the windows' distributions are alike and has no error
// bound otherwise (an hour with one spiky minute reports a p99 between
// that minute's and the others'). The result has quantiles only if every
// window had them. It reports false when pts is empty.
func MergeHour(pts []Point, end int64) (Point, bool) {
	if len(pts) == 0 {
		return Point{}, false
	}
	pts = slices.Clone(pts)
	slices.SortStableFunc(pts, func(a, b Point) int { return cmp.Compare(a.End, b.End) })
	u := pts[:0]
	for _, p := range pts {
		if n := len(u); n > 0 && u[n-1].End == p.End {
			u[n-1] = p
			continue
		}
		u = append(u, p)
	}
	pts = u
	h := Point{End: end, Width: HourMs, Min: math.Inf(1), Max: math.Inf(-1), First: pts[0].First, Last: pts[len(pts)-1].Last, HasQuantiles: true}
	var count uint64
	for i := range pts {
		p := &pts[i]
		count += uint64(p.Count)
		h.Sum += p.Sum
		if p.Count > 0 {
			h.Min = math.Min(h.Min, p.Min)
			h.Max = math.Max(h.Max, p.Max)
		}
		h.HasQuantiles = h.HasQuantiles && p.HasQuantiles
	}
	h.Count = uint32(min(count, math.MaxUint32))
	if count == 0 {
		h.Min, h.Max = pts[0].Min, pts[0].Max
	}
	if h.HasQuantiles {
		h.P50 = weightedQuantile(pts, 0.5, func(p *Point) float64 { return p.P50 })
		h.P90 = weightedQuantile(pts, 0.9, func(p *Point) float64 { return p.P90 })
		h.P99 = weightedQuantile(pts, 0.99, func(p *Point) float64 { return p.P99 })
	}
	return h, true
}

// weightedQuantile is the q-quantile of v(p) over pts, each weighted by
// its count (a window of count 0 weighs 1, so an hour of empty windows
// still has a value).
func weightedQuantile(pts []Point, q float64, v func(*Point) float64) float64 {
	type wv struct {
		v float64
		w uint64
	}
	xs := make([]wv, len(pts))
	var total uint64
	for i := range pts {
		w := max(uint64(pts[i].Count), 1)
		xs[i] = wv{v(&pts[i]), w}
		total += w
	}
	slices.SortStableFunc(xs, func(a, b wv) int { return cmp.Compare(a.v, b.v) })
	rank := q * float64(total)
	var acc uint64
	for _, x := range xs {
		acc += x.w
		if float64(acc) >= rank {
			return x.v
		}
	}
	return xs[len(xs)-1].v
}

// appendPoint encodes p as a ZSET member, in AppendMember's format.
func appendPoint(b []byte, p *Point) []byte {
	b = strconv.AppendInt(b, p.End, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, p.Width, 10)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(p.Count), 10)
	vs := []float64{p.Sum, p.Min, p.Max, p.First, p.Last, p.P50, p.P90, p.P99}
	if !p.HasQuantiles {
		vs = vs[:5]
	}
	for _, v := range vs {
		b = append(b, '|')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

// HourlyPoints returns each series' hourly rollups whose hours end in
// [mint, maxt] (Unix ms), oldest first. Hours after the newest compacted
// one (the hour in progress, or one whose compaction has not run yet) are
// merged from the minute windows on the fly, so the tier has no hole at
// its recent end.
func (s *Store) HourlyPoints(ctx context.Context, sids []string, mint, maxt int64) ([][]Point, error) {
	out, err := s.rangePoints(ctx, "h:", "hourly points", sids, mint, maxt)
	if err != nil {
		return nil, err
	}
	tail := make([]int, len(sids)) // series whose newest hours may not be compacted: all
	for i := range tail {
		tail[i] = i
	}
	// The tail: minute windows after the newest hourly point (or the whole
	// range when there is none), merged per hour.
	from := make([]int64, len(sids))
	tsids := make([]string, 0, len(tail))
	for _, i := range tail {
		from[i] = mint - HourMs
		if n := len(out[i]); n > 0 {
			from[i] = out[i][n-1].End
		}
		tsids = append(tsids, sids[i])
	}
	if len(tsids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	mcmds := make([]*redis.StringSliceCmd, len(tail))
	for k, i := range tail {
		mcmds[k] = pipe.ZRangeByScore(ctx, s.key("d:", sids[i]), &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(max(from[i], mint-HourMs), 10), Max: strconv.FormatInt(maxt, 10),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("store: recent minute windows of %d series: %w", len(tail), err)
	}
	for k, i := range tail {
		var hour int64 = -1
		var group []Point
		flush := func() {
			if end := hour + HourMs; len(group) > 0 && end >= mint && end <= maxt {
				if hp, ok := MergeHour(group, end); ok {
					out[i] = append(out[i], hp)
				}
			}
			group = group[:0]
		}
		for _, m := range mcmds[k].Val() {
			p, err := ParseMember(m)
			if err != nil {
				return nil, err
			}
			if h := hourOf(p.End - p.Width); h != hour {
				flush()
				hour = h
			}
			group = append(group, p)
		}
		flush()
	}
	return out, nil
}
