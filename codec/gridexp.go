package codec

import (
	"math"
	"sync"
)

// The wire decoder computes grid values with math.Exp, whose last bit
// depends on the machine: amd64 has two assembly versions (with and
// without FMA), arm64 and s390x their own, the rest Go's portable one.
// A chunk must decode to the same bits everywhere, so it names the
// variant its grid values are computed with, each written here in
// portable Go (explicit conversions stop the compiler fusing
// multiply-adds; math.FMA is exact everywhere), and the encoder picks the
// one that matches this machine's math.Exp.
const (
	expPortable  = iota // Go's math/exp.go
	expSleef            // amd64 without FMA (math/exp_amd64.s)
	expSleefFMA         // amd64 with FMA
	nExpVariants        // (3 is refused: room for another version)
)

// grid computes the values of the default wire quantizer's codes with one
// exp variant.
type grid struct {
	q       quantizer
	variant int
	offset  int64
}

func newGrid(variant int) grid {
	return grids()[variant]
}

// grids are the grids of every exp variant, built once (a quantizer costs
// a logarithm to build: more than a plain record to decode).
var grids = sync.OnceValue(func() (gs [nExpVariants]grid) {
	q := newQuantizer(chunkPrecision)
	for v := range gs {
		gs[v] = grid{q: q, variant: v, offset: q.offset}
	}
	return gs
})

// value is quantizer.value with the grid's exp.
func (g grid) value(k int64) float64 {
	switch {
	case k == 0:
		return 0
	case k < 0:
		return -g.exp(float64(-k-g.offset) / g.q.scale)
	}
	return g.exp(float64(k-g.offset) / g.q.scale)
}

func (g grid) exp(x float64) float64 {
	switch g.variant {
	case expSleef:
		return expSleefAMD64(x, false)
	case expSleefFMA:
		return expSleefAMD64(x, true)
	}
	return expGo(x)
}

// probeExp returns the variant that agrees with math.Exp on a spread of
// grid values (expPortable when none does: nudges make up for it).
func probeExp() int {
	q := newQuantizer(chunkPrecision)
	for v := range nExpVariants {
		g := grid{q: q, variant: v, offset: q.offset}
		ok := true
		for k := int64(1); k < 2600 && ok; k += 157 {
			ok = math.Float64bits(g.value(k)) == math.Float64bits(q.value(k))
		}
		if ok {
			return v
		}
	}
	return expPortable
}

// expGo is math/exp.go's exp.
func expGo(x float64) float64 {
	const (
		ln2Hi     = 6.93147180369123816490e-01
		ln2Lo     = 1.90821492927058770002e-10
		log2e     = 1.44269504088896338700e+00
		overflow  = 7.09782712893383973096e+02
		underflow = -7.45133219101941108420e+02
		nearZero  = 1.0 / (1 << 28)
		p1        = 1.66666666666666657415e-01
		p2        = -2.77777777770155933842e-03
		p3        = 6.61375632143793436117e-05
		p4        = -1.65339022054652515390e-06
		p5        = 4.13813679705723846039e-08
	)
	switch {
	case math.IsNaN(x):
		return x
	case x > overflow:
		return math.Inf(1)
	case x < underflow:
		return 0
	case -nearZero < x && x < nearZero:
		return 1 + x
	}
	var k int
	switch {
	case x < 0:
		k = int(float64(log2e*x) - 0.5)
	case x > 0:
		k = int(float64(log2e*x) + 0.5)
	}
	hi := x - float64(float64(k)*ln2Hi)
	lo := float64(float64(k) * ln2Lo)
	r := hi - lo
	t := float64(r * r)
	c := r - float64(t*(p1+float64(t*(p2+float64(t*(p3+float64(t*(p4+float64(t*p5)))))))))
	y := 1 - ((lo - float64(r*c)/(2-c)) - hi)
	return math.Ldexp(y, k)
}

// expSleefAMD64 is math/exp_amd64.s (Shibata's method), with or without
// its FMA instructions.
func expSleefAMD64(x float64, fma bool) float64 {
	const (
		ln2U     = 0.69314718055966295651160180568695068359375
		ln2L     = 0.28235290563031577122588448175013436025525412068e-12
		log2e    = 1.4426950408889634073599246810018920
		overflow = 7.09782712893384e+02
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case math.IsInf(x, -1):
		return 0
	case x > overflow:
		return math.Inf(1)
	case x < -800: // far below the smallest denormal; keeps the exponent in int32
		return 0
	}
	madd := func(a, b, c float64) float64 { // a·b + c
		if fma {
			return math.FMA(a, b, c)
		}
		return float64(a*b) + c
	}
	e := int32(math.RoundToEven(float64(log2e * x)))
	fe := float64(e)
	x = madd(-ln2U, fe, x)
	x = madd(-ln2L, fe, x)
	x *= 0.0625
	c := 2.4801587301587301587e-5
	for _, k := range [...]float64{1.9841269841269841270e-4, 1.3888888888888888889e-3, 8.3333333333333333333e-3,
		4.1666666666666666667e-2, 1.6666666666666666667e-1, 0.5, 1.0} {
		c = madd(c, x, k)
	}
	x *= c
	for range 3 {
		x *= x + 2
	}
	if fma {
		x = math.FMA(x+2, x, 1)
	} else {
		x *= x + 2
		x += 1
	}
	b := int64(e) + 0x3ff
	switch {
	case b >= 0x7ff:
		return math.Inf(1)
	case b > 0:
		return x * math.Float64frombits(uint64(b)<<52)
	case b < -52:
		return 0
	}
	x *= math.Float64frombits(uint64(b+0x3fe) << 52)
	return x * math.Float64frombits(1<<52)
}
