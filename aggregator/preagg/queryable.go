package preagg

import (
	"context"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/edgepulse/edgepulse/aggregator/query"
)

// Queryable serves the rules' outputs merged over partitions: a selector
// of a rule's name (X, X:sum, X:min, X:max, X:count, X:avg, X_hosts,
// X_version) reads the partitions' partials from Inner and returns one
// series per group, without the instance label. Every other selector
// goes to Inner unchanged.
type Queryable struct {
	Inner storage.Queryable
	rules map[string]*Rule
}

// NewQueryable wraps inner with cfg's rules (cfg validated).
func NewQueryable(inner storage.Queryable, cfg Config) *Queryable {
	q := &Queryable{Inner: inner, rules: map[string]*Rule{}}
	for i := range cfg.Rules {
		q.rules[cfg.Rules[i].Name] = &cfg.Rules[i]
	}
	return q
}

// Querier implements storage.Queryable.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	in, err := q.Inner.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &querier{Querier: in, q: q}, nil
}

type querier struct {
	storage.Querier
	q *Queryable
}

// output resolves a queried name to a rule, the statistic asked for ("",
// ":sum", …) and the partial-series suffix ("", "_hosts", "_version").
func (q *Queryable) output(name string) (r *Rule, stat, suffix string) {
	for _, sfx := range []string{HostsSuffix, VersionSuffix} {
		if base, ok := strings.CutSuffix(name, sfx); ok {
			if r := q.rules[base]; r != nil {
				return r, "", sfx
			}
		}
	}
	base, st := name, ""
	if i := strings.LastIndexByte(name, ':'); i > 0 {
		base, st = name[:i], name[i:]
		if !slices.Contains([]string{":sum", ":min", ":max", ":count", ":avg"}, st) {
			return nil, "", ""
		}
	}
	return q.rules[base], st, ""
}

func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var name string
	var rest []*labels.Matcher
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		} else {
			rest = append(rest, m)
		}
	}
	r, stat, suffix := q.q.output(name)
	if r == nil {
		return q.Querier.Select(ctx, sortSeries, hints, ms...)
	}
	var warns annotations.Annotations
	read := func(n string) ([]storage.Series, error) {
		set := q.Querier.Select(ctx, false, hints, append([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, n)}, rest...)...)
		var out []storage.Series
		for set.Next() {
			out = append(out, set.At())
		}
		warns.Merge(set.Warnings())
		return out, set.Err()
	}
	groups := map[string]*merged{}
	add := func(n string, fn func(a *acc, v float64)) error {
		ss, err := read(n)
		if err != nil {
			return err
		}
		for _, s := range ss {
			lb := labels.NewBuilder(s.Labels()).Del("instance").Set(labels.MetricName, name).Labels()
			k := lb.String()
			g := groups[k]
			if g == nil {
				g = &merged{lbls: lb, at: map[int64]*acc{}}
				groups[k] = g
			}
			it := s.Iterator(nil)
			for it.Next() == chunkenc.ValFloat {
				t, v := it.At()
				a := g.at[t]
				if a == nil {
					a = &acc{min: math.Inf(1), max: math.Inf(-1)}
					g.at[t] = a
				}
				fn(a, v)
			}
			if err := it.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if suffix != "" {
		err = add(r.Name+suffix, func(a *acc, v float64) { a.sum += v })
	} else {
		for _, step := range []struct {
			n  string
			fn func(a *acc, v float64)
		}{
			{":sum", func(a *acc, v float64) { a.sum += v }},
			{":count", func(a *acc, v float64) { a.n += v }},
			{":min", func(a *acc, v float64) { a.min = min(a.min, v) }},
			{":max", func(a *acc, v float64) { a.max = max(a.max, v) }},
		} {
			if err = add(r.Name+step.n, step.fn); err != nil {
				break
			}
		}
	}
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	out := make([]storage.Series, 0, len(groups))
	for _, g := range groups {
		ts := make([]int64, 0, len(g.at))
		for t := range g.at {
			ts = append(ts, t)
		}
		slices.Sort(ts)
		samples := make([]chunks.Sample, 0, len(ts))
		for _, t := range ts {
			a := g.at[t]
			var v float64
			switch {
			case suffix != "":
				v = a.sum
			case stat == ":sum":
				v = a.sum
			case stat == ":count":
				v = a.n
			case stat == ":min":
				v = a.min
			case stat == ":max":
				v = a.max
			case stat == ":avg":
				v = a.sum / a.n
			default:
				v = (&part{sum: a.sum, min: a.min, max: a.max, n: uint64(a.n)}).result(r.Op)
			}
			samples = append(samples, query.FloatSample(t, v))
		}
		out = append(out, storage.NewListSeries(g.lbls, samples))
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return query.ListSeriesSet(out, warns)
}

type merged struct {
	lbls labels.Labels
	at   map[int64]*acc
}

// acc merges the partitions' partials at one timestamp.
type acc struct{ sum, n, min, max float64 }
