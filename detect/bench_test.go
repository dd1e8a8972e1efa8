package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Benchmarks report ns per sample (ns/op) and, as "state-B", the state
// bytes per series. Streams cycle through a pre-generated Gaussian with
// occasional spikes, so SPOT's peaks and refits happen at their natural
// rate and are amortised honestly.

func benchStream() []float64 {
	r := rand.New(rand.NewPCG(9, 9))
	xs := make([]float64, 1<<16)
	for i := range xs {
		xs[i] = 50 + 5*r.NormFloat64()
		if i%997 == 0 {
			xs[i] += 60
		}
	}
	return xs
}

func benchUnivariate(b *testing.B, d detector) {
	xs := benchStream()
	for _, x := range xs[:5000] { // past calibration and warm-up
		d.Push(x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Push(xs[i&(len(xs)-1)])
	}
	b.ReportMetric(float64(d.Footprint().StateBytes), "state-B")
}

func BenchmarkEWMA(b *testing.B)  { d := NewEWMA(EWMAConfig{}); benchUnivariate(b, &d) }
func BenchmarkSPOT(b *testing.B)  { d := NewSPOT(SPOTConfig{}); benchUnivariate(b, &d) }
func BenchmarkDSPOT(b *testing.B) { d := NewDSPOT(SPOTConfig{}); benchUnivariate(b, &d) }
func BenchmarkCUSUM(b *testing.B) { d := NewCUSUM(CUSUMConfig{}); benchUnivariate(b, &d) }

// BenchmarkDist: online is the no-training path (warm-up, then a quantile
// step per sample); fitted scores only, after Fit on 8,640 values.
func BenchmarkDist(b *testing.B) {
	b.Run("online", func(b *testing.B) { d := NewDist(DistConfig{}); benchUnivariate(b, &d) })
	b.Run("fitted", func(b *testing.B) {
		d := NewDist(DistConfig{})
		d.Fit(append([]float64(nil), benchStream()[:8640]...))
		benchUnivariate(b, &d)
	})
}

func BenchmarkRuleState(b *testing.B) {
	r := Rule{Name: "r", Series: "s", Op: OpGT, Threshold: 55, For: 3 * time.Second}
	s := NewRuleState(&r)
	xs := benchStream()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Push(time.Duration(i)*time.Second, xs[i&(len(xs)-1)])
	}
	b.ReportMetric(float64(s.Footprint().StateBytes), "state-B")
}

func BenchmarkIncidentTracker(b *testing.B) {
	t := NewIncidentTracker(IncidentConfig{})
	xs := benchStream()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t.Push(xs[i&(len(xs)-1)] / 100)
	}
	b.ReportMetric(float64(t.Footprint().StateBytes), "state-B")
}

func BenchmarkCalibrator(b *testing.B) {
	var c calibrator
	xs := benchStream()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.push(xs[i&(len(xs)-1)] / 120)
	}
}

// BenchmarkSeries is the whole per-series pipeline the agent runs on every
// sample: EWMA, DSPOT, CUSUM, one rule, calibration and fusion.
func BenchmarkSeries(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Rules = []Rule{{Name: "r", Series: "s", Op: OpGT, Threshold: 90, For: time.Minute}}
	s := NewSeries(&cfg, "s")
	xs := benchStream()
	for i, x := range xs[:5000] {
		s.Push(time.Duration(i)*time.Second, x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Push(time.Duration(i)*time.Second, xs[i&(len(xs)-1)])
	}
	b.ReportMetric(float64(s.Footprint().StateBytes), "state-B")
}

// BenchmarkPCA reports ns per row and, as ns/series, per series of the host.
func BenchmarkPCA(b *testing.B) {
	for _, d := range []int{4, 19, 64} {
		b.Run(fmt.Sprintf("d=%d", d), func(b *testing.B) {
			rows := hostRows(4, 4096, d)
			p := NewPCA(d, PCAConfig{})
			for _, r := range rows[:1000] {
				p.Push(r)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Push(rows[i&4095])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(d), "ns/series")
			b.ReportMetric(float64(p.Footprint().StateBytes)/float64(d), "state-B/series")
		})
	}
}

// BenchmarkScorer scores a 19-column row (the ASD shape): every detector
// on every series plus PCA and host fusion.
func BenchmarkScorer(b *testing.B) {
	const d = 19
	cols := make([]string, d)
	for i := range cols {
		cols[i] = fmt.Sprint("c", i)
	}
	sc, err := NewScorer(DefaultConfig(), cols)
	if err != nil {
		b.Fatal(err)
	}
	rows := hostRows(5, 4096, d)
	for i, r := range rows[:2000] {
		sc.Train(time.Duration(i), r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sc.Score(time.Duration(i), rows[i&4095])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/d, "ns/series")
	b.ReportMetric(float64(sc.Footprint().StateBytes)/d, "state-B/series")
}

func BenchmarkFitGPD(b *testing.B) {
	y := gpdSample(1, 64, 0.1, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		FitGPD(y)
	}
}
