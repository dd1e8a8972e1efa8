package aggregator

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/edgepulse/edgepulse/aggregator/global"
	"github.com/edgepulse/edgepulse/aggregator/pathlat"
	"github.com/edgepulse/edgepulse/aggregator/preagg"
	"github.com/edgepulse/edgepulse/aggregator/query"
)

// regionsExtras glue the packages of many regions to the aggregator:
// pre-aggregates at ingest (preagg), the fleet-wide query (global) and
// the path latency histograms (pathlat), whose collectors are appended to
// /metrics.
type regionsExtras struct {
	preagg    *preagg.Engine // nil without rules
	globalAPI *query.API     // nil without peers
	path      *pathlat.Recorder
	reg       *prometheus.Registry
}

// setupRegions builds the extras over the local Queryable qa.
func (a *Aggregator) setupRegions(qa *query.Queryable, token string) error {
	x := &a.regions
	x.reg = prometheus.NewRegistry()
	x.path = pathlat.New()
	x.reg.MustRegister(x.path)
	var err error
	if x.preagg, err = preagg.New(a.cfg.Preagg, a.store, a.cfg.Regions.Name, a.cfg.Partitions, a.log); err != nil {
		return err
	}
	var local storage.Queryable = qa
	if x.preagg != nil {
		x.preagg.SetOwned(a.parts.owned)
		x.reg.MustRegister(x.preagg.Metrics())
		pq := preagg.NewQueryable(qa, a.cfg.Preagg)
		a.api.SetQueryable(pq)
		local = pq
	}
	if !a.cfg.Regions.Enabled() {
		return nil
	}
	gq, err := global.New(a.cfg.Regions, local)
	if err != nil {
		return err
	}
	x.reg.MustRegister(gq.Metrics())
	x.globalAPI = query.NewAPI(&query.Queryable{Store: a.store}, a.cfg.Limits, a.log)
	x.globalAPI.SetQueryable(gq)
	x.globalAPI.SetBearerToken(token)
	return nil
}

// runRegions starts the preagg deadline loop.
func (a *Aggregator) runRegions(ctx context.Context, wg *sync.WaitGroup) {
	if e := a.regions.preagg; e != nil {
		wg.Go(func() { e.Run(ctx) })
	}
}

// mountRegions serves the global API under /global/api/v1/.
func (a *Aggregator) mountRegions(mux *http.ServeMux) {
	if a.regions.globalAPI != nil {
		mux.Handle("/global/api/", http.StripPrefix("/global", a.regions.globalAPI))
	}
}

// observePreagg adds the queued frames to the rules' partials.
func (x *regionsExtras) observePreagg(ctx context.Context, queued []pending) error {
	e := x.preagg
	if e == nil {
		return nil
	}
	frames := make([]preagg.Frame, 0, len(queued))
	for _, q := range queued {
		if q.b == nil {
			continue
		}
		frames = append(frames, preagg.Frame{Partition: partitionOf(q.m.Subject()), Batch: q.b})
	}
	octx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return e.Observe(octx, frames)
}

// partitionOf is the partition token ending a stored subject, -1 if none.
func partitionOf(subject string) int {
	p, err := strconv.Atoi(subject[strings.LastIndexByte(subject, '.')+1:])
	if err != nil {
		return -1
	}
	return p
}

// recordPath observes the written frames' path latencies.
func (x *regionsExtras) recordPath(queued []pending, applied, written time.Time) {
	for _, q := range queued {
		if q.b == nil {
			continue
		}
		var pub time.Time
		if md, err := q.m.Metadata(); err == nil {
			pub = md.Timestamp
		}
		x.path.Frame(q.b.Site, time.UnixMilli(q.b.Start+q.b.Width), pub, applied, written)
	}
}
