package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// ErrTooManySeries is returned when a selector matches more series than
// Limits.MaxSeries.
var ErrTooManySeries = errors.New("query: too many series")

// stat is one derived statistic of a stored rollup.
type stat struct {
	suffix string // "" for the plain name
	value  func(p *store.Point) (float64, bool)
}

var stats = []stat{
	{"", func(p *store.Point) (float64, bool) { return p.Last, true }},
	{":avg", func(p *store.Point) (float64, bool) { return p.Sum / float64(p.Count), p.Count > 0 }},
	{":min", func(p *store.Point) (float64, bool) { return p.Min, p.Count > 0 }},
	{":max", func(p *store.Point) (float64, bool) { return p.Max, p.Count > 0 }},
	{":sum", func(p *store.Point) (float64, bool) { return p.Sum, p.Count > 0 }},
	{":count", func(p *store.Point) (float64, bool) { return float64(p.Count), true }},
	// NaN: the agent did not send it (wire.first off, the default).
	{":first", func(p *store.Point) (float64, bool) { return p.First, p.Count > 0 && !math.IsNaN(p.First) }},
	{":p50", func(p *store.Point) (float64, bool) { return p.P50, p.HasQuantiles }},
	{":p90", func(p *store.Point) (float64, bool) { return p.P90, p.HasQuantiles }},
	{":p99", func(p *store.Point) (float64, bool) { return p.P99, p.HasQuantiles }},
}

// splitName returns the stored base name and statistic of a queried name.
func splitName(name string) (base string, st *stat) {
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		for k := range stats {
			if stats[k].suffix == name[i:] {
				return name[:i], &stats[k]
			}
		}
	}
	return name, &stats[0]
}

// Queryable reads series from a Store.
type Queryable struct {
	Store     *store.Store
	MaxSeries int // per Select; 0 means no limit
	// Detail, when set, fetches raw samples from the agents for queries
	// whose step is finer than the stored windows (see detailFor).
	Detail DetailFunc

	widths widths // agents' window widths, for estimating a Select's samples
}

// Hourly tells whether a query of the given step (ms) starting at start
// (Unix ms) reads the hourly tier: when the step is an hour or more, or
// the start is older than the minute tier's retention.
func (q *Queryable) Hourly(step, start int64, now time.Time) bool {
	if step >= store.HourMs {
		return true
	}
	return q.Store != nil && start < now.Add(-q.Store.Retention()).UnixMilli()
}

// Querier implements storage.Queryable.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{q: q, mint: mint, maxt: maxt}, nil
}

// querier answers one query. Its Reader keeps the chunks read, so each
// series' chunks are read once per query whatever statistics and
// selectors ask for them.
type querier struct {
	q          *Queryable
	mint, maxt int64
	rd         *store.Reader
}

func (q *querier) Close() error { return nil }

func (q *querier) reader() *store.Reader {
	if q.rd == nil {
		q.rd = q.q.Store.NewReader()
	}
	return q.rd
}

// candidate is one queried series name: a stored base and a statistic.
type candidate struct {
	name string
	base string
	st   *stat
}

// candidates lists the queried names the matchers allow.
func (q *querier) candidates(ctx context.Context, ms []*labels.Matcher) ([]candidate, error) {
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			base, st := splitName(m.Value)
			return []candidate{{m.Value, base, st}}, nil
		}
	}
	bases, err := q.q.Store.Names(ctx)
	if err != nil {
		return nil, err
	}
	// A selector without a matcher on the name ({instance="h"}) selects
	// the stored series themselves, as on a Prometheus server: the
	// statistics' series (X:avg, …) are views of them, selected by name.
	named := slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m.Name == labels.MetricName })
	var out []candidate
	for _, b := range bases {
		for k := range stats {
			if !named && stats[k].suffix != "" {
				continue
			}
			name := b + stats[k].suffix
			ok := true
			for _, m := range ms {
				if m.Name == labels.MetricName && !m.Matches(name) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, candidate{name, b, &stats[k]})
			}
		}
	}
	return out, nil
}

type matched struct {
	cand   candidate
	ref    store.SeriesRef
	labels labels.Labels
}

// refs finds the stored series the matchers can select, through the
// label index: the postings of the equality matchers on labels
// intersected (with the metric's own when it is named); without one,
// the values of a label whose matcher excludes the empty value, or the
// series of the candidate names. Labels are then checked in full by
// match.
func (q *querier) refs(ctx context.Context, ms []*labels.Matcher, bases []string) ([]store.SeriesRef, error) {
	var eq [][2]string
	for _, m := range ms {
		if m.Name != labels.MetricName && m.Type == labels.MatchEqual && m.Value != "" {
			eq = append(eq, [2]string{m.Name, m.Value})
		}
	}
	if len(eq) > 0 {
		if len(bases) == 1 {
			eq = append(eq, [2]string{store.MetricName, bases[0]})
		}
		sids, err := q.q.Store.Postings(ctx, eq)
		if err != nil {
			return nil, err
		}
		if err := q.limit(len(sids)); err != nil {
			return nil, err
		}
		return q.q.Store.Series(ctx, sids)
	}
	// A label matcher that does not match "" (instance=~"h1|h2",
	// site!="") needs the label: the union of its matching values'
	// postings, when that is narrower than the names.
	for _, m := range ms {
		if m.Name == labels.MetricName || m.Matches("") {
			continue
		}
		vals, err := q.q.Store.LabelValues(ctx, m.Name)
		if err != nil {
			return nil, err
		}
		var pairs [][2]string
		for _, v := range vals {
			if m.Matches(v) {
				pairs = append(pairs, [2]string{m.Name, v})
			}
		}
		if len(pairs) == 0 {
			return nil, nil
		}
		if len(pairs) > len(bases) && len(bases) > 0 {
			continue
		}
		sids, err := q.q.Store.UnionPostings(ctx, pairs)
		if err != nil {
			return nil, err
		}
		if err := q.limit(len(sids)); err != nil {
			return nil, err
		}
		return q.q.Store.Series(ctx, sids)
	}
	return q.q.Store.SeriesOf(ctx, bases)
}

// limit refuses a selector that would read more than MaxSeries series
// before their labels are read.
func (q *querier) limit(n int) error {
	if q.q.MaxSeries > 0 && n > q.q.MaxSeries {
		return fmt.Errorf("%w: selector matches %d stored series, limit is %d", ErrTooManySeries, n, q.q.MaxSeries)
	}
	return nil
}

// match returns the series the matchers select, sorted by labels.
func (q *querier) match(ctx context.Context, ms []*labels.Matcher) ([]matched, error) {
	cands, err := q.candidates(ctx, ms)
	if err != nil {
		return nil, err
	}
	var bases []string
	for _, c := range cands {
		if !slices.Contains(bases, c.base) {
			bases = append(bases, c.base)
		}
	}
	if len(bases) == 0 {
		return nil, nil
	}
	refs, err := q.refs(ctx, ms, bases)
	if err != nil {
		return nil, err
	}
	byBase := make(map[string][]store.SeriesRef)
	for _, r := range refs {
		byBase[r.Name] = append(byBase[r.Name], r)
	}
	var out []matched
	for _, c := range cands {
		for _, r := range byBase[c.base] {
			b := labels.NewScratchBuilder(len(r.Labels)/2 + 1)
			b.Add(labels.MetricName, c.name)
			for i := 0; i < len(r.Labels); i += 2 {
				b.Add(r.Labels[i], r.Labels[i+1])
			}
			b.Sort()
			ls := b.Labels()
			ok := true
			for _, m := range ms {
				if !m.Matches(ls.Get(m.Name)) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, matched{c, r, ls})
			}
		}
	}
	if q.q.MaxSeries > 0 && len(out) > q.q.MaxSeries {
		return nil, fmt.Errorf("%w: selector matches %d series, limit is %d", ErrTooManySeries, len(out), q.q.MaxSeries)
	}
	slices.SortFunc(out, func(a, b matched) int { return labels.Compare(a.labels, b.labels) })
	return out, nil
}

func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	sel, err := q.match(ctx, ms)
	if err != nil {
		if errors.Is(err, ErrTooManySeries) {
			expensive(ctx) // its index reads were: the next run waits for a heavy slot
		}
		return storage.ErrSeriesSet(err)
	}
	if hints != nil && hints.Func == "series" {
		// Metadata only: /api/v1/series does not need points.
		out := make([]storage.Series, len(sel))
		for i, m := range sel {
			out[i] = &series{ls: m.labels}
		}
		return &seriesSet{list: out, i: -1}
	}
	// The series once each, whatever statistics of them are selected.
	var refs []store.SeriesRef
	at := make(map[string]int, len(sel))
	idx := make([]int, len(sel))
	for i, m := range sel {
		k, ok := at[m.ref.ID]
		if !ok {
			k = len(refs)
			at[m.ref.ID] = k
			refs = append(refs, m.ref)
		}
		idx[i] = k
	}
	rd := q.reader()
	corrupt := rd.Corrupt
	var step int64
	if hints != nil {
		step = hints.Step
	}
	// hourly: the hourly tier only; old: hours before the minute tier's
	// retention come from the hourly tier.
	hourly, old := step >= store.HourMs, q.q.Hourly(step, mint, time.Now())
	// A query that will be heavy takes its heavy slot before loading
	// (estimate.go).
	if err := reserve(ctx, q.q.widths.estimateSamples(refs, mint, maxt, hourly)); err != nil {
		return storage.ErrSeriesSet(err)
	}
	var pts [][]store.Point
	if hourly {
		pts, err = rd.HourlyPoints(ctx, refs, mint, maxt)
	} else {
		pts, err = rd.Points(ctx, refs, mint, maxt)
		if err == nil && old {
			// The range starts before the minute tier's retention: hours
			// before a series' oldest minute window come from the hourly
			// tier.
			var hp [][]store.Point
			if hp, err = rd.HourlyPoints(ctx, refs, mint, maxt); err == nil {
				for i := range pts {
					pts[i] = olderHours(hp[i], pts[i])
				}
			}
		}
	}
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	// The samples this Select hands over count against the query's budget
	// and may move it to a heavy slot (admit.go).
	n := 0
	for i := range sel {
		n += len(pts[idx[i]])
	}
	if !hourly {
		for k, ps := range pts {
			if len(ps) > 0 {
				q.q.widths.learn(refs[k].Agent, ps[len(ps)-1].Width)
			}
		}
	}
	if err := loaded(ctx, n); err != nil {
		return storage.ErrSeriesSet(err)
	}
	out := make([]storage.Series, 0, len(sel))
	var warn annotations.Annotations
	if n := rd.Corrupt - corrupt; n > 0 {
		warn.Add(fmt.Errorf("%d stored chunks could not be decoded and were skipped (edgepulse_store_chunks_corrupt_total)", n))
	}
	for i, m := range sel {
		s := &series{ls: m.labels}
		ps := pts[idx[i]]
		// The samples point into one array: a chunks.Sample holding a
		// pointer costs no allocation of its own.
		backing := make([]fsample, 0, len(ps))
		for k := range ps {
			if v, ok := m.cand.st.value(&ps[k]); ok {
				backing = append(backing, fsample{ps[k].End, v})
			}
		}
		if len(backing) > 0 {
			s.samples = make([]chunks.Sample, len(backing))
			for k := range backing {
				s.samples[k] = &backing[k]
			}
		}
		if hints != nil && len(ps) > 0 && !old {
			q.detailFor(ctx, m, len(sel), ps[0].Width, hints.Step, mint, maxt, s, &warn)
		}
		if len(s.samples) > 0 {
			out = append(out, s)
		}
	}
	return &seriesSet{list: out, i: -1, warn: warn}
}

// olderHours returns the hourly points that end before the minute
// windows begin, followed by the minute windows.
func olderHours(hours, minutes []store.Point) []store.Point {
	if len(minutes) == 0 {
		return hours
	}
	first := minutes[0].End - minutes[0].Width
	n := 0
	for n < len(hours) && hours[n].End <= first {
		n++
	}
	if n == 0 {
		return minutes
	}
	return append(hours[:n:n], minutes...)
}

func (q *querier) LabelValues(ctx context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if len(ms) == 0 {
		if name == labels.MetricName {
			bases, err := q.q.Store.Names(ctx)
			if err != nil {
				return nil, nil, err
			}
			var out []string
			for _, b := range bases {
				for _, s := range stats {
					out = append(out, b+s.suffix)
				}
			}
			slices.Sort(out)
			return out, nil, nil
		}
		v, err := q.q.Store.LabelValues(ctx, name)
		slices.Sort(v)
		return v, nil, err
	}
	sel, err := q.match(ctx, ms)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, m := range sel {
		if v := m.labels.Get(name); v != "" {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil, nil
}

func (q *querier) LabelNames(ctx context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if len(ms) == 0 {
		v, err := q.q.Store.LabelNames(ctx)
		v = append(v, labels.MetricName)
		slices.Sort(v)
		return slices.Compact(v), nil, err
	}
	sel, err := q.match(ctx, ms)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, m := range sel {
		m.labels.Range(func(l labels.Label) { out = append(out, l.Name) })
	}
	slices.Sort(out)
	return slices.Compact(out), nil, nil
}

type series struct {
	ls      labels.Labels
	samples []chunks.Sample
}

func (s *series) Labels() labels.Labels { return s.ls }

func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeries(s.ls, s.samples).Iterator(it)
}

// fsample is one float sample.
