package detect

import (
	"fmt"
	"math"
	"unsafe"
)

// PCAConfig configures a [PCA] detector. The zero value of a field means its
// default.
type PCAConfig struct {
	// Components is the number of principal components kept (k); the
	// residual outside them is scored. Default 3; range [1, 32], and at
	// most the number of series minus one (larger values are reduced).
	Components int `yaml:"components"`
	// Alpha is the learning rate of the components (CCIPCA amnesic rate).
	// Default 0.01; range (0, 1].
	Alpha float64 `yaml:"alpha"`
	// StdAlpha is the smoothing factor of the per-series mean and variance
	// used to standardise. Default 0.005; range (0, 1].
	StdAlpha float64 `yaml:"std_alpha"`
	// ErrAlpha is the smoothing factor of the residual norm's mean and
	// variance. Default 0.01; range (0, 1].
	ErrAlpha float64 `yaml:"err_alpha"`
	// Clip bounds each standardised input (and the learning residuals) to
	// ±Clip standard deviations. Default 6; range [1, 100].
	Clip float64 `yaml:"clip"`
	// Scale is the z of the residual norm that scores 0.5. Default 4.
	Scale float64 `yaml:"scale"`
	// MinStd is the smallest standard deviation used to standardise a
	// series (series' unit). Default 0.
	MinStd float64 `yaml:"min_std"`
	// Warmup is the number of rows learned before scores are non-zero.
	// Default 100.
	Warmup int `yaml:"warmup"`
}

// DefaultPCAConfig returns the defaults documented on [PCAConfig].
func DefaultPCAConfig() PCAConfig {
	return PCAConfig{Components: 3, Alpha: 0.01, StdAlpha: 0.005, ErrAlpha: 0.01, Clip: 6, Scale: 4, Warmup: 100}
}

func (c PCAConfig) withDefaults() PCAConfig {
	d := DefaultPCAConfig()
	if c.Components == 0 {
		c.Components = d.Components
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.StdAlpha == 0 {
		c.StdAlpha = d.StdAlpha
	}
	if c.ErrAlpha == 0 {
		c.ErrAlpha = d.ErrAlpha
	}
	if c.Clip == 0 {
		c.Clip = d.Clip
	}
	if c.Scale == 0 {
		c.Scale = d.Scale
	}
	if c.Warmup == 0 {
		c.Warmup = d.Warmup
	}
	return c
}

// Validate reports the first field out of range, by its YAML name.
func (c PCAConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Components < 1 || c.Components > 32:
		return fmt.Errorf("components: %d out of range [1, 32]", c.Components)
	case !(c.Alpha > 0 && c.Alpha <= 1):
		return fmt.Errorf("alpha: %v out of range (0, 1]", c.Alpha)
	case !(c.StdAlpha > 0 && c.StdAlpha <= 1):
		return fmt.Errorf("std_alpha: %v out of range (0, 1]", c.StdAlpha)
	case !(c.ErrAlpha > 0 && c.ErrAlpha <= 1):
		return fmt.Errorf("err_alpha: %v out of range (0, 1]", c.ErrAlpha)
	case !(c.Clip >= 1 && c.Clip <= 100):
		return fmt.Errorf("clip: %v out of range [1, 100]", c.Clip)
	case !(c.Scale > 0 && c.Scale <= 1e6):
		return fmt.Errorf("scale: %v out of range (0, 1e6]", c.Scale)
	case !(c.MinStd >= 0 && !math.IsInf(c.MinStd, 0)):
		return fmt.Errorf("min_std: %v out of range [0, +Inf)", c.MinStd)
	case c.Warmup < 1 || c.Warmup > 1<<30:
		return fmt.Errorf("warmup: %d out of range [1, 2^30]", c.Warmup)
	}
	return nil
}

// PCA is a multivariate detector over the d correlated series of one host.
// Each row is standardised per series (exponentially weighted mean and
// variance), projected on k principal components learned online with
// CCIPCA (candid covariance-free incremental PCA, Weng, Zhang & Hwang 2003),
// and the norm of what the components do not explain — the reconstruction
// error — is scored as a one-sided robust z-score against its own recent
// level (an [EWMA]). A row that breaks the usual relationship between
// series scores high even when every series is within its own range.
// Missing values are imputed with the series mean (z = 0).
//
// State per host: (4 + k)·d·8 bytes (mean, variance, k components, two
// scratch rows) plus 216 bytes; 1,336 bytes for d = 19, k = 3 (70 bytes per
// series). Cost per row: O(k·d), about 4·k·d + 10·d flops and k + d + 1
// sqrts; ~60-100 ns per series measured (BenchmarkPCA).
type PCA struct {
	mean, variance []float64
	comps          []float64 // k rows of d, unnormalised CCIPCA vectors
	z, u           []float64 // scratch
	resid          EWMA
	alpha          float64
	stdAlpha       float64
	minStd, clip   float64
	scale          float64
	score          float64
	n              uint64
	warmup         uint64
	dim, k         int
}

// NewPCA returns a PCA detector over rows of dim series; cfg must be valid.
// With dim < 2 there is no residual and every score is 0.
func NewPCA(dim int, cfg PCAConfig) PCA {
	cfg = cfg.withDefaults()
	k := cfg.Components
	if k > dim-1 {
		k = max(dim-1, 0)
	}
	return PCA{
		mean: make([]float64, dim), variance: make([]float64, dim),
		comps: make([]float64, k*dim),
		z:     make([]float64, dim), u: make([]float64, dim),
		resid: NewEWMA(EWMAConfig{Alpha: cfg.ErrAlpha, Clip: 3, Scale: cfg.Scale, Warmup: cfg.Warmup}),
		alpha: cfg.Alpha, stdAlpha: cfg.StdAlpha, minStd: cfg.MinStd, clip: cfg.Clip, scale: cfg.Scale,
		warmup: uint64(cfg.Warmup), dim: dim, k: k,
	}
}

// Push scores one row (len(row) must be the dimension) against the state
// before it, then learns it. NaN and ±Inf cells are missing.
func (p *PCA) Push(row []float64) float64 {
	p.score = 0
	if p.dim < 2 || len(row) != p.dim {
		return 0
	}
	p.n++
	a := rate(p.n, p.stdAlpha)
	present := 0
	for j, x := range row {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			p.z[j] = 0
			continue
		}
		present++
		if p.n == 1 {
			p.mean[j] = x
			p.z[j] = 0
			continue
		}
		sd := math.Sqrt(p.variance[j])
		if f := stdFloor(p.minStd, p.mean[j]); sd < f {
			sd = f
		}
		r := x - p.mean[j]
		z := r / sd
		z = math.Max(-p.clip, math.Min(p.clip, z))
		p.z[j] = z
		if p.n > p.warmup {
			r = z * sd // learn with the clipped residual
		}
		p.mean[j] += a * r
		p.variance[j] = (1 - a) * (p.variance[j] + a*r*r)
	}
	if p.n == 1 || present == 0 {
		return 0
	}
	d := p.dim
	// Residual of z outside the current components (deflation, before
	// learning this row).
	copy(p.u, p.z)
	for i := 0; i < p.k; i++ {
		v := p.comps[i*d : (i+1)*d]
		nv := norm(v)
		if nv == 0 {
			continue
		}
		c := dot(p.u, v) / (nv * nv)
		for j := range p.u {
			p.u[j] -= c * v[j]
		}
	}
	e := norm(p.u)
	// CCIPCA update.
	eta := rate(p.n-1, p.alpha)
	copy(p.u, p.z)
	for i := 0; i < p.k; i++ {
		v := p.comps[i*d : (i+1)*d]
		nv := norm(v)
		if nv == 0 {
			copy(v, p.u)
			break // seed one component per row
		}
		c := eta * dot(p.u, v) / nv
		for j := range v {
			v[j] = (1-eta)*v[j] + c*p.u[j]
		}
		nv = norm(v)
		if nv == 0 {
			continue
		}
		c = dot(p.u, v) / (nv * nv)
		for j := range p.u {
			p.u[j] -= c * v[j]
		}
	}
	z, ok := p.resid.push(e)
	if !ok || p.n <= p.warmup || z <= 0 {
		return 0
	}
	p.score = zScore(z, p.scale)
	return p.score
}

// Score returns the score of the last Push.
func (p *PCA) Score() float64 { return p.score }

// Components returns the number of components in use.
func (p *PCA) Components() int { return p.k }

// Footprint reports the state size and cost per row for the whole host.
func (p *PCA) Footprint() Footprint {
	b := int(unsafe.Sizeof(*p)) + 8*(cap(p.mean)+cap(p.variance)+cap(p.comps)+cap(p.z)+cap(p.u))
	return Footprint{StateBytes: b, PerSample: fmt.Sprintf("O(k·d) per row: ~%d flops, %d sqrts", 4*p.k*p.dim+10*p.dim, p.k+p.dim+1)}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }
