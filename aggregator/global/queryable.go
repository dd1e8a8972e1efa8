package global

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/edgepulse/edgepulse/aggregator/query"
)

// RegionLabel is the label naming the region a series came from.
const RegionLabel = "region"

// Queryable fans selectors out to the local region and the peers.
type Queryable struct {
	cfg    Config
	local  storage.Queryable
	client *http.Client
	slots  chan struct{}
	m      *Metrics
}

// New returns the fan-out over local (this region) and cfg's peers.
func New(cfg Config, local storage.Queryable) (*Queryable, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	return &Queryable{cfg: cfg, local: local, client: &http.Client{Timeout: cfg.Timeout},
		slots: make(chan struct{}, cfg.MaxConcurrent), m: newMetrics()}, nil
}

// Metrics are the peer request counters.
func (q *Queryable) Metrics() *Metrics { return q.m }

// Querier implements storage.Queryable.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	lq, err := q.local.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return &querier{q: q, local: lq, mint: mint, maxt: maxt}, nil
}

type querier struct {
	q          *Queryable
	local      storage.Querier
	mint, maxt int64
}

func (g *querier) Close() error { return g.local.Close() }

// regionSeries is one region's answer to a Select.
type regionSeries struct {
	series []storage.Series
	warns  annotations.Annotations
	err    error
}

func (g *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := g.mint, g.maxt
	if hints != nil {
		mint, maxt = hints.Start, hints.End
	}
	// A matcher on region picks the regions asked.
	var rest []*labels.Matcher
	var regionMs []*labels.Matcher
	for _, m := range ms {
		if m.Name == RegionLabel {
			regionMs = append(regionMs, m)
		} else {
			rest = append(rest, m)
		}
	}
	if len(rest) == 0 {
		return storage.ErrSeriesSet(errors.New("global: a selector needs a matcher besides region"))
	}
	want := func(name string) bool {
		for _, m := range regionMs {
			if !m.Matches(name) {
				return false
			}
		}
		return true
	}
	answers := make([]regionSeries, 1+len(g.q.cfg.Peers))
	var wg sync.WaitGroup
	for i, p := range g.q.cfg.Peers {
		if !want(p.Name) {
			continue
		}
		wg.Go(func() { answers[1+i] = g.q.remote(ctx, p, rest, mint, maxt) })
	}
	if want(g.q.cfg.Name) {
		set := g.local.Select(ctx, false, hints, rest...)
		var ss []storage.Series
		for set.Next() {
			ss = append(ss, set.At())
		}
		answers[0] = regionSeries{series: ss, warns: set.Warnings(), err: set.Err()}
	}
	wg.Wait()
	if answers[0].err != nil {
		return storage.ErrSeriesSet(fmt.Errorf("region %q (local): %w", g.q.cfg.Name, answers[0].err))
	}
	var warns annotations.Annotations
	byKey := map[string]*mergedSeries{}
	var order []*mergedSeries
	for i, a := range answers {
		region := g.q.cfg.Name
		if i > 0 {
			region = g.q.cfg.Peers[i-1].Name
		}
		warns.Merge(a.warns)
		if a.err != nil {
			warns.Add(fmt.Errorf("partial result: region %q left out: %w", region, a.err))
			continue
		}
		for _, s := range a.series {
			key := labels.NewBuilder(s.Labels()).Del(RegionLabel).Labels()
			k := key.String()
			m := byKey[k]
			if m == nil {
				m = &mergedSeries{lbls: labels.NewBuilder(key).Set(RegionLabel, region).Labels(), seen: map[int64]bool{}}
				byKey[k] = m
				order = append(order, m)
			}
			if err := m.add(s); err != nil {
				return storage.ErrSeriesSet(err)
			}
		}
	}
	out := make([]storage.Series, len(order))
	for i, m := range order {
		slices.SortFunc(m.samples, func(a, b chunks.Sample) int { return int(a.T() - b.T()) })
		out[i] = storage.NewListSeries(m.lbls, m.samples)
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return query.ListSeriesSet(out, warns)
}

// mergedSeries is one series over the regions: a timestamp is taken
// from the first region that has it.
type mergedSeries struct {
	lbls    labels.Labels
	seen    map[int64]bool
	samples []chunks.Sample
}

func (m *mergedSeries) add(s storage.Series) error {
	it := s.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		if m.seen[t] {
			continue
		}
		m.seen[t] = true
		m.samples = append(m.samples, query.FloatSample(t, v))
	}
	return it.Err()
}

// LabelValues answers region from the configuration and every other
// label from the local region only (the label APIs do not fan out).
func (g *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	if name == RegionLabel {
		out := []string{g.q.cfg.Name}
		for _, p := range g.q.cfg.Peers {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out, nil, nil
	}
	return g.local.LabelValues(ctx, name, hints, ms...)
}

// LabelNames adds region to the local region's names.
func (g *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	names, w, err := g.local.LabelNames(ctx, hints, ms...)
	if err == nil && !slices.Contains(names, RegionLabel) {
		names = append(names, RegionLabel)
		slices.Sort(names)
	}
	return names, w, err
}

// selector renders matchers as a PromQL vector selector.
func selector(ms []*labels.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var errTimeout = errors.New("no answer in time")

// acquire takes a fan-out slot, waiting at most the timeout.
func (q *Queryable) acquire(ctx context.Context) error {
	t := time.NewTimer(q.cfg.Timeout)
	defer t.Stop()
	select {
	case q.slots <- struct{}{}:
		return nil
	case <-t.C:
		q.m.requests.WithLabelValues("limited").Inc()
		return fmt.Errorf("%w: %d requests to regions already in flight (regions.max_concurrent)", errTimeout, q.cfg.MaxConcurrent)
	case <-ctx.Done():
		return ctx.Err()
	}
}
