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

// trainZScores is the simplest baseline: per metric, z against the mean
// and standard deviation of the training rows (floored at minStd); host
// score = max |z| over metrics. Missing cells are skipped.
func trainZScores(train, rows [][]float64, minStd float64) []float64 {
	if len(rows) == 0 {
		return nil
	}
	d := len(rows[0])
	mean := make([]float64, d)
	sd := make([]float64, d)
	for j := range d {
		s, sq, n := 0.0, 0.0, 0.0
		for _, r := range train {
			if v := r[j]; !math.IsNaN(v) {
				s += v
				sq += v * v
				n++
			}
		}
		if n > 0 {
			mean[j] = s / n
			sd[j] = math.Sqrt(math.Max(sq/n-mean[j]*mean[j], 0))
		}
		sd[j] = math.Max(sd[j], minStd)
	}
	out := make([]float64, len(rows))
	for i, r := range rows {
		for j, v := range r {
			if z := math.Abs(v-mean[j]) / sd[j]; z > out[i] {
				out[i] = z
			}
		}
	}
	return out
}

// squash maps |z| to [0, 1] with 0.5 at |z| = 3: z²/(z²+9).
func squash(z []float64) []float64 {
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = v * v / (v*v + 9)
	}
	return out
}
