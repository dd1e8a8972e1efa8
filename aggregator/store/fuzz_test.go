package store

import (
	"math"
	"strings"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

// FuzzParseMember decodes arbitrary ZSET members (what Redis hands back
// could have been written by anything with access to it): no panic, and
// a member that parses re-encodes to one that parses to the same point.
func FuzzParseMember(f *testing.F) {
	r := codec.Rollup{Count: 60, Sum: 1.5, Min: -1, Max: 2, First: 0, Last: 1, Quantiles: []float64{0.5, 0.9, 0.99}}
	f.Add(string(AppendMember(nil, 1_700_000_060_000, 60_000, &r)))
	r.Quantiles = nil
	f.Add(string(AppendMember(nil, 1_700_000_060_000, 60_000, &r)))
	f.Add("1|2|3|NaN|+Inf|-Inf|0x1p-2|1e309|1|1")
	f.Add("||||||||")
	f.Fuzz(func(t *testing.T, m string) {
		p, err := ParseMember(m)
		if err != nil {
			return
		}
		if n := strings.Count(m, "|"); n != 7 && n != 10 {
			t.Fatalf("member with %d separators accepted: %q", n, m)
		}
		r := codec.Rollup{Count: p.Count, Sum: p.Sum, Min: p.Min, Max: p.Max, First: p.First, Last: p.Last}
		if p.HasQuantiles {
			r.Quantiles = []float64{p.P50, p.P90, p.P99}
		}
		q, err := ParseMember(string(AppendMember(nil, p.End, p.Width, &r)))
		if err != nil {
			t.Fatalf("re-encoded member of %q does not parse: %v", m, err)
		}
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if q.End != p.End || q.Width != p.Width || q.Count != p.Count || !same(q.Sum, p.Sum) || !same(q.Last, p.Last) || q.HasQuantiles != p.HasQuantiles {
			t.Fatalf("round trip of %q: %+v != %+v", m, q, p)
		}
	})
}
