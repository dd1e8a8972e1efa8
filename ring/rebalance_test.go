package ring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func membersOf(ids []string, weights map[string]float64) []Member {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{ID: id, Weight: weights[id]}
	}
	return ms
}

func mustRebalance(tb testing.TB, opts Options, prev []string, ms []Member) *Ring {
	tb.Helper()
	r, err := Rebalance(opts, prev, ms)
	if err != nil {
		tb.Fatalf("Rebalance(%d members): %v", len(ms), err)
	}
	return r
}

// checkQuotas fails unless every partition is owned and every member holds
// between floor(s) and its capacity partitions, s = P*w/W its fair share.
func checkQuotas(t *testing.T, what string, r *Ring) {
	t.Helper()
	P := r.NumPartitions()
	for p, o := range r.Assignment() {
		if o == "" {
			t.Fatalf("%s: partition %d unowned", what, p)
		}
	}
	var W float64
	for _, m := range r.members {
		W += m.weight()
	}
	for _, m := range r.members {
		n := len(r.Partitions(m.ID))
		// floor(s) computed in float64 with a margin for rounding: exactness
		// is the code's job, the test checks the bound.
		s := float64(P) * m.weight() / W
		if lo := int(math.Floor(s + 1e-9)); n < lo {
			t.Fatalf("%s: %s holds %d partitions, below floor(%.3f) = %d", what, m.ID, n, s, lo)
		}
		if c := r.Capacity(m.ID); n > c {
			t.Fatalf("%s: %s holds %d partitions, above its capacity %d", what, m.ID, n, c)
		}
	}
}

// movedCount counts the partitions whose owner differs.
func movedCount(t *testing.T, a, b *Ring) int {
	t.Helper()
	moves, err := Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return len(moves)
}

// TestRebalanceMovement runs sequences of single joins and leaves on
// random member sets of 3..50 members, each step a Rebalance of the
// previous assignment, and checks per event:
//
//   - balance: every member between floor(P/N) and ceil(P/N) (floor(s) and
//     its capacity with weights or LoadFactor);
//   - movement: on a leave exactly the departed member's partitions move,
//     on a join exactly the newcomer's (its quota, floor(s) or ceil(s)):
//     the least any assignment can move; so also moved <= max(that lower
//     bound, ceil(1.2*P/N)), the criterion, N the larger count.
//
// The mean moved relative to the ideal P/N is logged per N.
func TestRebalanceMovement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		weighted bool
	}{
		{"default", Options{}, false},
		{"weights", Options{}, true},
		{"loadfactor1.1", Options{LoadFactor: 1.1}, false},
		{"P=256", Options{Partitions: 256}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			P := tc.opts.withDefaults().Partitions
			rng := rand.New(rand.NewPCG(21, 22))
			seqs, steps := 6, 24
			if tc.name != "default" {
				seqs = 2
			}
			if testing.Short() {
				seqs, steps = 2, 10
			}
			var sumRatio, worstRatio float64
			events, within, weightedExtra := 0, 0, 0
			for n := 3; n <= 50; n++ {
				for seq := range seqs {
					ids := memberNames(rng, n, seq)
					weights := map[string]float64{}
					pool := memberNames(rng, 2*steps, seq+1)
					if tc.weighted {
						for _, id := range append(slices.Clone(ids), pool...) {
							weights[id] = []float64{0, 0.5, 1, 2, 3}[rng.IntN(5)]
						}
					}
					cur := mustRebalance(t, tc.opts, nil, membersOf(ids, weights))
					checkQuotas(t, fmt.Sprintf("N=%d seq %d start", n, seq), cur)
					for step := range steps {
						join := len(ids) <= 3 || len(ids) < 50 && rng.IntN(2) == 0
						var x string
						if join {
							x = pool[step]
							ids = append(ids, x)
						} else {
							k := rng.IntN(len(ids))
							x = ids[k]
							ids = without(ids, k)
						}
						rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
						next := mustRebalance(t, tc.opts, cur.Assignment(), membersOf(ids, weights))
						what := fmt.Sprintf("N=%d seq %d step %d (join=%v %s, %d members)", n, seq, step, join, x, len(ids))
						checkQuotas(t, what, next)
						moved := movedCount(t, cur, next)
						// The departed member's or the newcomer's partitions.
						var bound int
						if join {
							bound = len(next.Partitions(x))
						} else {
							bound = len(cur.Partitions(x))
						}
						if least := leastMoves(cur, next); moved != least {
							t.Fatalf("%s: moved %d, want the least possible within the quotas, %d", what, moved, least)
						}
						if !tc.weighted && moved != bound {
							t.Fatalf("%s: moved %d, want the lower bound %d", what, moved, bound)
						}
						if tc.weighted && moved != bound {
							weightedExtra++
						}
						larger := max(len(ids), len(cur.members))
						if !tc.weighted && moved > max(bound, ceilDiv(12*P, 10*larger)) {
							t.Fatalf("%s: moved %d > max(%d, ceil(1.2*P/N))", what, moved, bound)
						}
						if !tc.weighted {
							ratio := float64(moved) * float64(larger) / float64(P)
							sumRatio += ratio
							worstRatio = max(worstRatio, ratio)
							events++
							if moved <= ceilDiv(12*P, 10*larger) {
								within++
							}
						}
						cur = next
					}
				}
			}
			if tc.weighted {
				t.Logf("events where raised floors of the survivors forced more than the departed member's partitions to move: %d", weightedExtra)
			}
			if events > 0 {
				t.Logf("%d events: moved / (P/N) mean %.3f, worst %.3f; moved <= ceil(1.2*P/N) in %.1f%%",
					events, sumRatio/float64(events), worstRatio, 100*float64(within)/float64(events))
			}
		})
	}
}

// leastMoves is the fewest partitions any assignment of next's members
// within their quotas [floor(s), capacity] can move away from cur: the
// orphans, what members above their capacity must give up, and what the
// kept counts clamped to the quotas exceed P by. It is computed here from
// the definition, independently of Rebalance's code.
func leastMoves(cur, next *Ring) int {
	P := next.NumPartitions()
	var W float64
	for _, m := range next.members {
		W += m.weight()
	}
	orphans := P
	over, clamped := 0, 0
	for _, m := range next.members {
		k := len(cur.Partitions(m.ID))
		orphans -= k
		lo := int(math.Floor(float64(P)*m.weight()/W + 1e-9))
		hi := next.Capacity(m.ID)
		over += max(0, k-hi)
		clamped += min(max(k, lo), hi)
	}
	return orphans + over + max(0, clamped-P)
}

// TestRebalanceMultiChange replaces several members at once (a rolling
// restart seen as one change, a partition of the cluster healing): the
// quotas hold, partitions of surviving members move only when a newcomer
// or a member below its floor needs them, and a second Rebalance with the
// same members moves nothing.
func TestRebalanceMultiChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for trial := range 200 {
		n := 3 + rng.IntN(48)
		ids := memberNames(rng, n, trial)
		cur := mustRebalance(t, Options{}, nil, membersOf(ids, nil))
		leave := rng.IntN(min(n-1, 5) + 1)
		ids = ids[leave:]
		ids = append(ids, memberNames(rng, rng.IntN(6), trial+1)...)
		if len(ids) == 0 {
			continue
		}
		next := mustRebalance(t, Options{}, cur.Assignment(), membersOf(ids, nil))
		what := fmt.Sprintf("trial %d: %d -> %d members", trial, n, len(ids))
		checkQuotas(t, what, next)
		// A partition of a surviving member moves only if that member is
		// now above ceil(P/N) or some member gained.
		orphans, released := 0, 0
		for p, o := range cur.Assignment() {
			if !slices.Contains(ids, o) {
				orphans++
			} else if next.Owner(p) != o {
				released++
			}
		}
		need := 0 // partitions the members below target must receive
		for _, id := range ids {
			if d := len(next.Partitions(id)) - len(cur.Partitions(id)); d > 0 {
				need += d
			}
		}
		if orphans+released != need {
			t.Fatalf("%s: %d orphans + %d released != %d received", what, orphans, released, need)
		}
		if least := leastMoves(cur, next); orphans+released != least {
			t.Fatalf("%s: moved %d (%d orphans), want the least possible within the quotas, %d", what, orphans+released, orphans, least)
		}
		again := mustRebalance(t, Options{}, next.Assignment(), membersOf(ids, nil))
		if m := movedCount(t, next, again); m != 0 {
			t.Fatalf("%s: a second Rebalance with the same members moved %d", what, m)
		}
	}
}

// TestRebalanceDeterministic checks that the result depends on the member
// set, not on slice order, and that repeated calls agree.
func TestRebalanceDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for trial := range 50 {
		n := 3 + rng.IntN(48)
		ids := memberNames(rng, n+1, trial)
		prev := mustRebalance(t, Options{}, nil, membersOf(ids[:n], nil)).Assignment()
		// The new member set: one joins, one leaves.
		next := append(slices.Clone(ids[1:n]), ids[n])
		want := mustRebalance(t, Options{}, prev, membersOf(next, nil)).Assignment()
		for range 3 {
			rng.Shuffle(len(next), func(i, j int) { next[i], next[j] = next[j], next[i] })
			got := mustRebalance(t, Options{}, prev, membersOf(next, nil)).Assignment()
			if !slices.Equal(got, want) {
				t.Fatalf("trial %d: assignment depends on member order", trial)
			}
		}
	}
}

// TestRebalanceNoHistory checks the start: with no previous assignment the
// result is New's consistent-hashing assignment wherever that meets the
// floor quotas, and a previous assignment owning nothing counts as none.
func TestRebalanceNoHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	same, total := 0, 0
	for n := 1; n <= 50; n++ {
		ids := memberNames(rng, n, n)
		base := mustRing(t, Options{}, ids)
		r := mustRebalance(t, Options{}, nil, membersOf(ids, nil))
		checkQuotas(t, fmt.Sprintf("N=%d", n), r)
		empty := mustRebalance(t, Options{}, make([]string, 64), membersOf(ids, nil))
		if !slices.Equal(empty.Assignment(), r.Assignment()) {
			t.Fatalf("N=%d: an all-unowned previous assignment differs from none", n)
		}
		lo, _ := loads(base)
		total++
		if lo >= 64/n {
			same++
			if !slices.Equal(base.Assignment(), r.Assignment()) {
				t.Fatalf("N=%d: New meets the quotas but Rebalance(nil) differs from it", n)
			}
		} else {
			// Only what lifts the members below floor(P/N) moves.
			need := 0
			for _, id := range ids {
				need += max(0, 64/n-len(base.Partitions(id)))
			}
			if m := movedCount(t, base, r); m != need {
				t.Fatalf("N=%d: %d partitions moved from New's assignment, want %d", n, m, need)
			}
		}
	}
	t.Logf("Rebalance(nil) == New for %d of %d member counts", same, total)
}

// TestRebalanceInputs covers the edge cases and errors.
func TestRebalanceInputs(t *testing.T) {
	ms := membersOf([]string{"a", "b", "c"}, nil)
	r, err := Rebalance(Options{}, nil, nil)
	if err != nil || r.Owner(0) != "" || len(r.Assignment()) != 64 {
		t.Fatalf("no members: %v, owner %q", err, r.Owner(0))
	}
	if _, err := Rebalance(Options{}, make([]string, 63), ms); !errors.Is(err, ErrPartitionsDiffer) {
		t.Fatalf("prev of 63 partitions: err %v, want ErrPartitionsDiffer", err)
	}
	if _, err := Rebalance(Options{Partitions: -1}, nil, ms); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("bad options: err %v", err)
	}
	if _, err := Rebalance(Options{}, nil, membersOf([]string{"a", "a"}, nil)); !errors.Is(err, ErrInvalidMember) {
		t.Fatalf("duplicate member: err %v", err)
	}
	// Owners that are not members (departed, garbage) are orphans.
	prev := make([]string, 64)
	for p := range prev {
		prev[p] = []string{"a", "zz", "", "b"}[p%4]
	}
	r = mustRebalance(t, Options{}, prev, ms)
	checkQuotas(t, "garbage prev", r)
	for p, o := range prev {
		if (o == "a" || o == "b") && r.Owner(p) != o && len(r.Partitions(o)) < 16 {
			t.Fatalf("partition %d moved from %s although %s is below its quota", p, o, o)
		}
	}

	got, err := FromAssignment(Options{}, ms, r.Assignment())
	if err != nil || !slices.Equal(got.Assignment(), r.Assignment()) {
		t.Fatalf("FromAssignment round trip: %v", err)
	}
	if _, err := FromAssignment(Options{}, ms, r.Assignment()[:10]); !errors.Is(err, ErrPartitionsDiffer) {
		t.Fatalf("FromAssignment short: err %v", err)
	}
	bad := r.Assignment()
	bad[5] = "zz"
	if _, err := FromAssignment(Options{}, ms, bad); !errors.Is(err, ErrInvalidMember) || !strings.Contains(err.Error(), "partition 5") {
		t.Fatalf("FromAssignment unknown owner: err %v", err)
	}
}

// TestGoldenRebalance pins Rebalance like TestGoldenAssignment pins New: a
// fixed sequence of joins and leaves, the assignment after each.
func TestGoldenRebalance(t *testing.T) {
	steps := [][]string{
		{"aggregator-0", "aggregator-1", "aggregator-2"},
		{"aggregator-0", "aggregator-1", "aggregator-2", "aggregator-3"},
		{"aggregator-0", "aggregator-2", "aggregator-3"},
		{"aggregator-0", "aggregator-2", "aggregator-3", "eu-west-big", "aggregator-1"},
	}
	weights := map[string]float64{"eu-west-big": 2}
	var b strings.Builder
	var prev []string
	for i, ids := range steps {
		r := mustRebalance(t, Options{}, prev, membersOf(ids, weights))
		prev = r.Assignment()
		fmt.Fprintf(&b, "step %d %v\n", i, ids)
		for p, owner := range prev {
			fmt.Fprintf(&b, "%d %s\n", p, owner)
		}
	}
	path := filepath.Join("testdata", "rebalance.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenRebalance -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("rebalance differs from %s:\n%s", path, b.String())
	}
}

// FuzzRebalance feeds arbitrary previous assignments: the result always
// owns every partition within the quotas, keeps every partition whose
// owner stays within its quota, and is a fixed point.
func FuzzRebalance(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, uint8(5))
	f.Add([]byte{}, uint8(1))
	f.Add([]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, uint8(20))
	f.Fuzz(func(t *testing.T, owners []byte, n uint8) {
		if n == 0 || n > 50 {
			return
		}
		ids := ordinalNames(int(n))
		prev := make([]string, 64)
		for p := range prev {
			if p < len(owners) && int(owners[p]) < int(n)+5 { // a few non-members
				prev[p] = fmt.Sprintf("aggregator-%d", owners[p])
			}
		}
		r, err := Rebalance(Options{}, prev, membersOf(ids, nil))
		if err != nil {
			t.Fatal(err)
		}
		checkQuotas(t, "fuzz", r)
		again := mustRebalance(t, Options{}, r.Assignment(), membersOf(ids, nil))
		if !slices.Equal(again.Assignment(), r.Assignment()) {
			t.Fatal("not a fixed point")
		}
	})
}
