package detect

import (
	"fmt"
	"slices"
	"time"
	"unsafe"
)

// Scorer scores rows of a table — one column per series of one host — in
// one streaming pass: a [Series] per column plus [PCA] over all columns,
// fused (Config.Fusion.Host) into one host score per row, optionally
// averaged over the last fusion.smooth rows. Row i's score
// depends only on rows ≤ i (and whatever was fed to Train before).
//
// State: the Series' plus PCA's, reported by Footprint. Cost per row:
// columns × Series cost + PCA cost.
type Scorer struct {
	cfg       Config
	columns   []string
	series    []Series
	pca       PCA
	pcaCal    calibrator
	usePCA    bool
	colScores []float64
	inputs    []float64 // host fusion inputs: series scores then PCA
	weights   []float64
	recent    []float64 // last fused scores (log p with "sidak"), for fusion.smooth
	head      int
	score     float64
	// trainVals holds each column's training values until the first Score
	// fits the distribution detectors to them (nil otherwise).
	trainVals [][]float64
	trainSeen int
}

// maxTrainValues bounds the training values kept per column for fitting
// [Dist]: beyond it a uniform reservoir sample is kept, which estimates
// the same quantiles.
const maxTrainValues = 1 << 17

// NewScorer returns a Scorer for rows with the given column names (which
// rules refer to). It validates cfg; a rule naming no column is an error.
func NewScorer(cfg Config, columns []string) (*Scorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(columns) == 0 {
		return nil, fmt.Errorf("detect: scorer: no columns")
	}
	cfg = cfg.withDefaults()
	// Own the rules so the Series' pointers cannot be changed by the caller.
	cfg.Rules = append([]Rule(nil), cfg.Rules...)
	known := make(map[string]bool, len(columns))
	for _, c := range columns {
		known[c] = true
	}
	for i, r := range cfg.Rules {
		if !known[r.Series] {
			return nil, fmt.Errorf("detect: config: rules[%d].series: no column named %q", i, r.Series)
		}
	}
	s := &Scorer{
		cfg:       cfg,
		columns:   append([]string(nil), columns...),
		series:    make([]Series, len(columns)),
		colScores: make([]float64, len(columns)),
		inputs:    make([]float64, len(columns)+1),
		weights:   make([]float64, len(columns)+1),
	}
	for i, c := range columns {
		s.series[i] = NewSeries(&s.cfg, c)
		s.weights[i] = *cfg.Fusion.Weights.Series
	}
	s.recent = make([]float64, cfg.Fusion.Smooth)
	s.weights[len(columns)] = *cfg.Fusion.Weights.PCA
	if *cfg.Fusion.Weights.PCA > 0 && len(columns) > 1 {
		s.pca = NewPCA(len(columns), cfg.PCA)
		s.usePCA = true
	} else {
		s.weights[len(columns)] = 0
	}
	return s, nil
}

// Columns returns the column names.
func (s *Scorer) Columns() []string { return s.columns }

// Train learns one row of normal (training) data without using its score:
// the online detectors learn it as Score would, and the row is kept (up to
// maxTrainValues per column, reservoir-sampled beyond) until the first
// Score fits every column's [Dist] to all training rows and frees them.
// Training memory is therefore proportional to the training data, not
// part of the per-series state.
func (s *Scorer) Train(t time.Duration, row []float64) {
	useDist := *s.cfg.Fusion.Weights.Dist > 0
	if useDist {
		if s.trainVals == nil {
			s.trainVals = make([][]float64, len(s.series))
		}
		s.trainSeen++
		slot := -1
		if s.trainSeen > maxTrainValues {
			// Reservoir sampling with a deterministic generator (splitmix64
			// of the row count), so runs are reproducible.
			z := uint64(s.trainSeen) * 0x9e3779b97f4a7c15
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
			z = (z ^ (z >> 27)) * 0x94d049bb133111eb
			z ^= z >> 31
			if j := int(z % uint64(s.trainSeen)); j < maxTrainValues {
				slot = j
			}
		}
		for i, x := range row {
			switch {
			case s.trainSeen <= maxTrainValues:
				s.trainVals[i] = append(s.trainVals[i], x)
			case slot >= 0:
				s.trainVals[i][slot] = x
			}
		}
	}
	s.score = s.step(t, row, !useDist)
}

// Score scores one row observed at time t (for rules' durations), then
// learns it, and returns the host score in [0, 1]. len(row) must equal the
// number of columns; NaN cells are missing. It does not allocate, except
// for the first Score after Train, which fits the distribution detectors.
func (s *Scorer) Score(t time.Duration, row []float64) float64 {
	if s.trainVals != nil {
		s.fitDist()
	}
	s.score = s.step(t, row, true)
	return s.score
}

// fitDist fits every column's Dist to its training values and frees them.
// A column constant in training has no scale of its own; it borrows the
// median resolution of the host's other columns (the data's quantum when
// they share one), so a new value still scores by its distance.
func (s *Scorer) fitDist() {
	var res []float64
	for i := range s.series {
		s.series[i].FitDist(s.trainVals[i])
		d := s.series[i].Dist()
		if d.Trained() && !d.Constant() {
			res = append(res, d.Resolution())
		}
	}
	s.trainVals = nil
	if len(res) == 0 {
		return
	}
	slices.Sort(res)
	med := res[len(res)/2]
	for i := range s.series {
		s.series[i].Dist().SetConstantScale(med)
	}
}

// step pushes one row through every detector (Dist only when dist is
// true) and returns the fused, smoothed host score.
func (s *Scorer) step(t time.Duration, row []float64, dist bool) float64 {
	sidakMode := s.cfg.Fusion.Host == FuseSidak
	minLP, m := 0.0, 0
	for i := range s.series {
		x := row[i]
		var v float64
		if dist {
			v = s.series[i].Push(t, x)
		} else {
			v = s.series[i].Learn(t, x)
		}
		s.colScores[i] = v
		s.inputs[i] = v
		if sidakMode && s.weights[i] > 0 {
			m++
			if lp := s.weights[i] * s.series[i].LogP(); lp < minLP {
				minLP = lp
			}
		}
	}
	if s.usePCA {
		v := s.pca.Push(row)
		var lp float64
		switch {
		case *s.cfg.Fusion.Calibrate && sidakMode:
			lp = s.pcaCal.pushLogP(v)
			v = TailScore(lp)
		case *s.cfg.Fusion.Calibrate:
			v = s.pcaCal.push(v)
			lp = tailLogP(v)
		default:
			lp = tailLogP(v)
		}
		s.inputs[len(s.series)] = v
		if sidakMode {
			m++
			if lp *= s.weights[len(s.series)]; lp < minLP {
				minLP = lp
			}
		}
	}
	if sidakMode {
		s.recent[s.head] = sidak(minLP, m)
	} else {
		s.recent[s.head] = Fuse(s.cfg.Fusion.Host, s.inputs, s.weights)
	}
	s.head = (s.head + 1) % len(s.recent)
	sum := 0.0
	for _, v := range s.recent {
		sum += v
	}
	if sidakMode {
		return TailScore(sum / float64(len(s.recent)))
	}
	return sum / float64(len(s.recent))
}

// ColumnScores returns each column's fused series score for the last row.
// The slice is reused by the next call to Score.
func (s *Scorer) ColumnScores() []float64 { return s.colScores }

// PCAScore returns the multivariate detector's score for the last row.
func (s *Scorer) PCAScore() float64 { return s.inputs[len(s.series)] }

// Series returns the detectors of column i.
func (s *Scorer) Series(i int) *Series { return &s.series[i] }

// Footprint reports the total state of the scorer and the cost per row.
func (s *Scorer) Footprint() Footprint {
	b := int(unsafe.Sizeof(*s)) + 8*(cap(s.colScores)+cap(s.inputs)+cap(s.weights)+cap(s.recent))
	for i := range s.series {
		b += s.series[i].Footprint().StateBytes
	}
	if s.usePCA {
		b += s.pca.Footprint().StateBytes - int(unsafe.Sizeof(s.pca))
	}
	return Footprint{StateBytes: b, PerSample: "per row: columns × Series + PCA"}
}
