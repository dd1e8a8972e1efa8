package query

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// TSDB status in Prometheus' shape (web/api/v1 TSDBStatus), where it fits
// a Redis store: headStats.chunkCount counts stored minute windows, minTime
// and maxTime bound the hours holding them. The edgepulse object adds what
// Prometheus has no field for: Redis memory and bytes per window.

type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

type headStats struct {
	NumSeries     uint64 `json:"numSeries"`
	NumLabelPairs int    `json:"numLabelPairs"`
	ChunkCount    int64  `json:"chunkCount"`
	MinTime       int64  `json:"minTime"`
	MaxTime       int64  `json:"maxTime"`
}

type capacityStats struct {
	Series         int64   `json:"series"`
	StoredWindows  int64   `json:"storedWindows"`
	UsedMemory     int64   `json:"usedMemoryBytes"`
	MaxMemory      int64   `json:"maxMemoryBytes"`
	BytesPerWindow float64 `json:"bytesPerWindow"`
	Masters        int     `json:"masters"`
}

type tsdbStatus struct {
	HeadStats                   headStats     `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat    `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat    `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []tsdbStat    `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat    `json:"seriesCountByLabelValuePair"`
	Edgepulse                   capacityStats `json:"edgepulse"`
}

// maxTSDBLimit is Prometheus' bound on the limit parameter.
const maxTSDBLimit = 10000

// tsdbStatus serves /api/v1/status/tsdb: the store's capacity, the limit
// (default 10) metric names with the most series and label names with
// the most values.
func (a *API) tsdbStatus(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			a.fail(w, badData("limit must be a positive number"))
			return
		}
		if limit > maxTSDBLimit {
			a.fail(w, badData("limit must not exceed %d", maxTSDBLimit))
			return
		}
	}
	internal := func(err error) { a.fail(w, &apiError{http.StatusInternalServerError, "internal", err}) }
	if a.q.Store == nil {
		internal(errors.New("no store"))
		return
	}
	ctx := r.Context()
	c, err := a.q.Store.Capacity(ctx)
	if err != nil {
		internal(err)
		return
	}
	names, err := a.q.Store.SeriesPerName(ctx)
	if err != nil {
		internal(err)
		return
	}
	lnames, err := a.q.Store.ValuesPerLabel(ctx)
	if err != nil {
		internal(err)
		return
	}
	pairs := 0
	for _, l := range lnames {
		pairs += int(l.Value)
	}
	a.ok(w, tsdbStatus{
		HeadStats: headStats{NumSeries: uint64(max(c.Series, 0)), NumLabelPairs: pairs, ChunkCount: c.StoredWindows,
			MinTime: c.MinTime, MaxTime: c.MaxTime},
		SeriesCountByMetricName:     topStats(names, limit),
		LabelValueCountByLabelName:  topStats(lnames, limit),
		MemoryInBytesByLabelName:    []tsdbStat{},
		SeriesCountByLabelValuePair: []tsdbStat{},
		Edgepulse: capacityStats{Series: c.Series, StoredWindows: c.StoredWindows, UsedMemory: c.UsedMemory,
			MaxMemory: c.MaxMemory, BytesPerWindow: c.BytesPerWindow, Masters: c.Masters},
	})
}

// topStats returns the first limit counts (they come largest first).
func topStats(cs []store.Count, limit int) []tsdbStat {
	out := make([]tsdbStat, 0, min(len(cs), limit))
	for _, c := range cs[:min(len(cs), limit)] {
		out = append(out, tsdbStat{Name: c.Name, Value: uint64(max(c.Value, 0))})
	}
	return out
}
