package query

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// ListSeriesSet is a storage.SeriesSet over series already in memory,
// with the warnings of the Select that made them. The queryables built
// on this one (aggregator/global, aggregator/preagg) answer with it too.
func ListSeriesSet(list []storage.Series, warn annotations.Annotations) storage.SeriesSet {
	return &seriesSet{list: list, i: -1, warn: warn}
}

// FloatSample is one float sample (chunks.Sample) at t in milliseconds.
func FloatSample(t int64, f float64) chunks.Sample { return fsample{t, f} }

type seriesSet struct {
	list []storage.Series
	i    int
	warn annotations.Annotations
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series                { return s.list[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return s.warn }

type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }
