package store

import (
	"cmp"
	"math"
	"slices"
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
	if !slices.IsSortedFunc(pts, func(a, b Point) int { return cmp.Compare(a.End, b.End) }) || hasRepeats(pts) {
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
	}
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
		var buf []wv
		h.P50, buf = weightedQuantile(buf, pts, 0.5, func(p *Point) float64 { return p.P50 })
		h.P90, buf = weightedQuantile(buf, pts, 0.9, func(p *Point) float64 { return p.P90 })
		h.P99, _ = weightedQuantile(buf, pts, 0.99, func(p *Point) float64 { return p.P99 })
	}
	return h, true
}

// hasRepeats tells whether sorted pts hold an End twice.
func hasRepeats(pts []Point) bool {
	for i := 1; i < len(pts); i++ {
		if pts[i].End == pts[i-1].End {
			return true
		}
	}
	return false
}

// wv is a value and its weight.
type wv struct {
	v float64
	w uint64
}

// weightedQuantile is the q-quantile of v(p) over pts, each weighted by
// its count (a window of count 0 weighs 1, so an hour of empty windows
// still has a value).
// buf is scratch space, returned for the next call.
func weightedQuantile(buf []wv, pts []Point, q float64, v func(*Point) float64) (float64, []wv) {
	xs := buf[:0]
	var total uint64
	for i := range pts {
		w := max(uint64(pts[i].Count), 1)
		xs = append(xs, wv{v(&pts[i]), w})
		total += w
	}
	slices.SortStableFunc(xs, func(a, b wv) int { return cmp.Compare(a.v, b.v) })
	rank := q * float64(total)
	var acc uint64
	for _, x := range xs {
		acc += x.w
		if float64(acc) >= rank {
			return x.v, xs
		}
	}
	return xs[len(xs)-1].v, xs
}
