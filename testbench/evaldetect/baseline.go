package main

import "math"

// windowedGaussian scores rows by a rolling-window z-score per column: the
// mean and standard deviation of the previous w rows (not including the row
// scored), host score = max over columns of |z|. The standard deviation is
// floored at minStd. seed rows prime the window (the end of the training
// file when scoring test rows); rows scored before the window is full score
// 0.
func windowedGaussian(seed, rows [][]float64, w int, minStd float64) []float64 {
	if len(rows) == 0 {
		return nil
	}
	d := len(rows[0])
	ring := make([][]float64, 0, w)
	sum := make([]float64, d)
	sq := make([]float64, d)
	head := 0
	push := func(r []float64) {
		if len(ring) < w {
			ring = append(ring, r)
		} else {
			old := ring[head]
			for j := range d {
				sum[j] -= old[j]
				sq[j] -= old[j] * old[j]
			}
			ring[head] = r
			head = (head + 1) % w
		}
		for j := range d {
			sum[j] += r[j]
			sq[j] += r[j] * r[j]
		}
	}
	if len(seed) > w {
		seed = seed[len(seed)-w:]
	}
	for _, r := range seed {
		push(r)
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		if len(ring) == w {
			n := float64(w)
			s := 0.0
			for j := range d {
				m := sum[j] / n
				v := sq[j]/n - m*m
				sd := math.Sqrt(math.Max(v, 0))
				if sd < minStd {
					sd = minStd
				}
				if z := math.Abs(r[j]-m) / sd; z > s {
					s = z
				}
			}
			out[i] = s
		}
		push(r)
	}
	return out
}

// baselineEval thresholds the baseline like the detectors: the quantile of
// its online scores on the training rows (after skip), then scores the test
// rows with the window primed by the end of the training rows.
// With smooth > 1 both score series are first averaged over the last
// smooth rows (the same post-processing as fusion.smooth), as a control.
func baselineEval(train, test [][]float64, labels []bool, w int, minStd float64, skip int, q float64, smooth int) metrics {
	calib := smoothScores(windowedGaussian(nil, train, w, minStd), smooth)
	th := quantileThreshold(calib, max(skip, w), q)
	scores := smoothScores(windowedGaussian(train, test, w, minStd), smooth)
	m := evaluate(flagAbove(scores, th), labels)
	m.threshold = th
	return m
}

// smoothScores replaces each score by the mean of it and the n-1 before it.
func smoothScores(s []float64, n int) []float64 {
	if n <= 1 {
		return s
	}
	out := make([]float64, len(s))
	sum := 0.0
	for i, v := range s {
		sum += v
		if i >= n {
			sum -= s[i-n]
		}
		out[i] = sum / float64(n)
	}
	return out
}
