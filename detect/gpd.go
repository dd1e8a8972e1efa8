package detect

import (
	"errors"
	"math"
)

// ErrTooFewPeaks is returned by FitGPD when fewer than two positive excesses
// are given.
var ErrTooFewPeaks = errors.New("detect: too few peaks to fit a GPD")

// FitGPD fits a generalized Pareto distribution to the excesses y (values
// over a threshold, all > 0) by maximum likelihood, with Grimshaw's
// reduction (Technometrics 1993) as used by SPOT (Siffer et al., KDD 2017):
// writing x = γ/σ, the likelihood equations reduce to the scalar equation
// u(x)·v(x) = 1 with
//
//	u(x) = 1/n Σ 1/(1 + x·yᵢ),   v(x) = 1 + 1/n Σ log(1 + x·yᵢ),
//
// whose roots lie in (-1/max y, 0) ∪ (0, 2(ȳ - min y)/(min y)²). Every root
// found there gives a candidate γ = v(x) - 1, σ = γ/x; the exponential case
// γ = 0, σ = ȳ is a candidate too; the candidate with the largest
// log-likelihood wins. Roots are bracketed on a fixed grid and refined with
// the Illinois variant of regula falsi, so the cost is O(len(y)) times a
// constant (21 grid evaluations plus a few per root). Roots giving
// γ < -1 are discarded (no proper maximum there).
//
// Non-positive or non-finite values in y are ignored.
func FitGPD(y []float64) (gamma, sigma float64, err error) {
	return fitGPD(y)
}

type peakValue interface{ ~float32 | ~float64 }

// gpdStats holds what the Grimshaw equations need about the sample.
type gpdStats struct {
	n                int
	mean, ymin, ymax float64
}

func statsOf[F peakValue](y []F) gpdStats {
	s := gpdStats{ymin: math.Inf(1)}
	sum := 0.0
	for _, v := range y {
		f := float64(v)
		if !(f > 0) || math.IsInf(f, 0) {
			continue
		}
		s.n++
		sum += f
		s.ymin = math.Min(s.ymin, f)
		s.ymax = math.Max(s.ymax, f)
	}
	if s.n > 0 {
		s.mean = sum / float64(s.n)
	}
	return s
}

// grimshawW returns u(x)v(x) - 1 and v(x) for the sample.
func grimshawW[F peakValue](y []F, n int, x float64) (w, v float64) {
	su, sv := 0.0, 0.0
	for _, p := range y {
		f := float64(p)
		if !(f > 0) || math.IsInf(f, 0) {
			continue
		}
		t := 1 + x*f
		su += 1 / t
		sv += math.Log(t)
	}
	u := su / float64(n)
	v = 1 + sv/float64(n)
	return u*v - 1, v
}

// gpdLogLik is the GPD log-likelihood of the sample.
func gpdLogLik[F peakValue](y []F, n int, gamma, sigma float64) float64 {
	if !(sigma > 0) {
		return math.Inf(-1)
	}
	ll := -float64(n) * math.Log(sigma)
	if math.Abs(gamma) < 1e-12 {
		for _, p := range y {
			if f := float64(p); f > 0 && !math.IsInf(f, 0) {
				ll -= f / sigma
			}
		}
		return ll
	}
	c := 1 + 1/gamma
	for _, p := range y {
		f := float64(p)
		if !(f > 0) || math.IsInf(f, 0) {
			continue
		}
		t := 1 + gamma*f/sigma
		if t <= 0 {
			return math.Inf(-1)
		}
		ll -= c * math.Log(t)
	}
	return ll
}

// Fixed bracketing grids, as fractions of each interval. The negative side
// is (-1/ymax, 0): roots crowd near both ends, so the grid is dense there.
var (
	gridNeg = [...]float64{1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.9999}
)

// gridPos is the number of log-spaced grid points on the positive side.
const gridPos = 12

func fitGPD[F peakValue](y []F) (gamma, sigma float64, err error) {
	st := statsOf(y)
	if st.n < 2 {
		return 0, 0, ErrTooFewPeaks
	}
	// Exponential candidate (γ = 0).
	bestG, bestS := 0.0, st.mean
	bestLL := gpdLogLik(y, st.n, 0, st.mean)
	if st.ymax == st.ymin {
		return bestG, bestS, nil // degenerate: all excesses equal
	}
	try := func(x float64) {
		if x == 0 {
			return
		}
		_, v := grimshawW(y, st.n, x)
		g := v - 1
		s := g / x
		// γ < -1 has no proper maximum (the likelihood grows without bound
		// as the end point nears max y), so such roots are not candidates.
		if !(s > 0) || math.IsNaN(g) || g < -1 {
			return
		}
		if ll := gpdLogLik(y, st.n, g, s); ll > bestLL {
			bestG, bestS, bestLL = g, s, ll
		}
	}
	// Negative side: x = -frac/ymax.
	prevX := 0.0
	prevW := math.NaN()
	for _, f := range gridNeg {
		x := -f / st.ymax
		w, _ := grimshawW(y, st.n, x)
		if !math.IsNaN(prevW) && (w < 0) != (prevW < 0) {
			try(illinois(y, st.n, prevX, x, prevW, w))
		}
		prevX, prevW = x, w
	}
	// Positive side: (0, 2(ȳ - ymin)/ymin²), log-spaced from 1e-6/ȳ, where
	// roots of interest (x = γ/σ with σ of the order of ȳ) start.
	upper := 2 * (st.mean - st.ymin) / (st.ymin * st.ymin)
	lo := 1e-6 / st.mean
	if upper > lo && !math.IsInf(upper, 0) {
		prevW = math.NaN()
		step := math.Pow(upper/lo, 1/float64(gridPos-1))
		x := lo
		for k := 0; k < gridPos; k++ {
			if k == gridPos-1 {
				x = upper * (1 - 1e-9)
			}
			w, _ := grimshawW(y, st.n, x)
			if !math.IsNaN(prevW) && (w < 0) != (prevW < 0) {
				try(illinois(y, st.n, prevX, x, prevW, w))
			}
			prevX, prevW = x, w
			x *= step
		}
	}
	return bestG, bestS, nil
}

// illinois finds a root of w in [a, b] given w(a)=fa and w(b)=fb of opposite
// signs, with the Illinois modification of regula falsi.
func illinois[F peakValue](y []F, n int, a, b, fa, fb float64) float64 {
	side := 0
	c := a
	for i := 0; i < 40; i++ {
		c = (a*fb - b*fa) / (fb - fa)
		if math.IsNaN(c) {
			return (a + b) / 2
		}
		fc, _ := grimshawW(y, n, c)
		if fc == 0 || math.Abs(fc) < 1e-10 || math.Abs(b-a) <= 1e-7*math.Abs(c) {
			return c
		}
		if (fc < 0) == (fb < 0) {
			b, fb = c, fc
			if side == -1 {
				fa /= 2
			}
			side = -1
		} else {
			a, fa = c, fc
			if side == 1 {
				fb /= 2
			}
			side = 1
		}
	}
	return c
}

// gpdQuantile returns the threshold z_q exceeded with probability q, given
// the initial threshold t, the GPD fit and the peak rate nt/n (SPOT's
// eq. for z_q).
func gpdQuantile(q, t, gamma, sigma float64, n, nt float64) float64 {
	r := q * n / nt
	if math.Abs(gamma) < 1e-12 {
		return t - sigma*math.Log(r)
	}
	return t + sigma/gamma*(math.Pow(r, -gamma)-1)
}

// gpdTail returns P(X > t + e | X > t) for the fitted GPD.
func gpdTail(e, gamma, sigma float64) float64 {
	if math.Abs(gamma) < 1e-12 {
		return math.Exp(-e / sigma)
	}
	t := 1 + gamma*e/sigma
	if t <= 0 {
		return 0
	}
	return math.Pow(t, -1/gamma)
}
