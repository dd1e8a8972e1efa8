package query

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// DetailFunc fetches one series' raw samples (the agent's 1 s history)
// between start and end (Unix ms, inclusive) from the agent of site and
// host. name and labels are the series as the agent knows it (without the
// site and instance labels the store adds). It returns the samples in time
// order; samples with an error are a partial answer (shown, with the
// error as a warning).
type DetailFunc func(ctx context.Context, site, host, name string, labels map[string]string, start, end int64) ([]Sample, error)

// Sample is one raw sample fetched from an agent.
type Sample struct {
	T int64 // Unix ms
	V float64
}

// detailFor replaces the window values of a plain series by the agent's
// raw samples when the query asks for a step finer than the windows the
// series is stored in. It reports what it did (or why it could not) as an
// annotation, so the response says where its points came from.
// Detail is fetched for at most maxDetailSeries series per selector and
// maxDetailRange of time, so a careless dashboard cannot pull days of raw
// samples over a thin uplink.
const (
	maxDetailSeries = 16
	maxDetailRange  = 6 * 3600 * 1000 // ms
)

func (q *querier) detailFor(ctx context.Context, m matched, n int, width, step, mint, maxt int64, s *series, warn *annotations.Annotations) {
	if q.q.Detail == nil || m.cand.st.suffix != "" || step <= 0 || width <= 0 || step >= width {
		return
	}
	if n > maxDetailSeries || maxt-mint > maxDetailRange {
		warn.Add(fmt.Errorf("%s: step %d ms is finer than its %d ms windows; raw detail is fetched for at most %d series and %d h, this selector has %d series over %d s",
			m.labels, step, width, maxDetailSeries, maxDetailRange/3600_000, n, (maxt-mint)/1000))
		return
	}
	site, host := m.labels.Get("site"), m.labels.Get("instance")
	if site == "" || host == "" {
		return
	}
	agentLabels := map[string]string{}
	m.labels.Range(func(l labels.Label) {
		if l.Name != labels.MetricName && l.Name != "site" && l.Name != "instance" {
			agentLabels[l.Name] = l.Value
		}
	})
	raw, err := q.q.Detail(ctx, site, host, m.cand.base, agentLabels, mint, maxt)
	if err != nil && len(raw) > 0 {
		warn.Add(fmt.Errorf("%s: raw detail from agent %s/%s is incomplete: %v", m.labels, site, host, err))
	} else if err != nil {
		warn.Add(fmt.Errorf("%s: step %d ms is finer than its %d ms windows, but the raw detail from agent %s/%s could not be fetched (%v); showing the windows", m.labels, step, width, site, host, err))
		return
	}
	s.samples = make([]chunks.Sample, len(raw))
	for i, r := range raw {
		s.samples[i] = fsample{r.T, r.V}
	}
	warn.Add(fmt.Errorf("%s: %d raw samples fetched from agent %s/%s over the leaf link (step %d ms is finer than its %d ms windows)", m.labels, len(raw), site, host, step, width))
}
