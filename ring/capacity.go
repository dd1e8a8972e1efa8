package ring

import "math/big"

// capacities returns, for every member, max(ceil(s), floor(LoadFactor*s))
// where s = P*w_i/W is its fair share and W the sum of the weights.
//
// The arithmetic is exact (math/big.Rat holds every float64 exactly), so the
// result is the same on every architecture: float64 expressions may be
// fused into FMA instructions on arm64 and not on amd64, and an aggregator
// whose capacities differ by one from its peers' would compute a different
// assignment.
//
// The sum of the capacities is at least the sum of the ceilings, which is
// at least P, so every partition finds a member with room.
func capacities(opts Options, members []Member) []int {
	shares, _ := fairShares(opts, members)
	lf := new(big.Rat).SetFloat64(opts.LoadFactor)
	caps := make([]int, len(members))
	var loose big.Rat
	for i, share := range shares {
		loose.Mul(share, lf)
		c := max(ceilRat(share), floorRat(&loose))
		caps[i] = int(min(c, int64(opts.Partitions)))
	}
	return caps
}

// fairShares returns every member's fair share s = P*w/W exactly, and
// floor(s).
func fairShares(opts Options, members []Member) ([]*big.Rat, []int) {
	total := new(big.Rat)
	shares := make([]*big.Rat, len(members))
	for i, m := range members {
		shares[i] = new(big.Rat).SetFloat64(m.weight())
		total.Add(total, shares[i])
	}
	perWeight := new(big.Rat).SetInt64(int64(opts.Partitions))
	perWeight.Quo(perWeight, total)
	floors := make([]int, len(members))
	for i, s := range shares {
		s.Mul(s, perWeight)
		floors[i] = int(floorRat(s))
	}
	return shares, floors
}

// floorRat returns floor(x) for x >= 0.
func floorRat(x *big.Rat) int64 {
	var q big.Int
	return q.Quo(x.Num(), x.Denom()).Int64() // truncation is floor for x >= 0
}

// ceilRat returns ceil(x) for x >= 0.
func ceilRat(x *big.Rat) int64 {
	var q, r big.Int
	q.QuoRem(x.Num(), x.Denom(), &r)
	if r.Sign() != 0 {
		return q.Int64() + 1
	}
	return q.Int64()
}
