package ring

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string // "" when valid
	}{
		{"zero means defaults", Options{}, ""},
		{"defaults", DefaultOptions(), ""},
		{"limits", Options{Partitions: MaxPartitions, VirtualNodes: MaxVirtualNodes, LoadFactor: MaxLoadFactor}, ""},
		{"one partition", Options{Partitions: 1, VirtualNodes: 1, LoadFactor: 1}, ""},
		{"negative partitions", Options{Partitions: -1}, "Partitions"},
		{"too many partitions", Options{Partitions: MaxPartitions + 1}, "Partitions"},
		{"negative virtual nodes", Options{VirtualNodes: -5}, "VirtualNodes"},
		{"too many virtual nodes", Options{VirtualNodes: MaxVirtualNodes + 1}, "VirtualNodes"},
		{"load factor below 1", Options{LoadFactor: 0.99}, "LoadFactor"},
		{"negative load factor", Options{LoadFactor: -1}, "LoadFactor"},
		{"load factor NaN", Options{LoadFactor: math.NaN()}, "LoadFactor"},
		{"load factor too large", Options{LoadFactor: MaxLoadFactor * 2}, "LoadFactor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want ErrInvalidOptions naming %s", err, tt.field)
			}
			if _, err := New(tt.opts, []Member{{ID: "a"}}); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("New() = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestNewRejectsMembers(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		members []Member
		want    string
	}{
		{"empty ID", Options{}, []Member{{ID: "a"}, {ID: ""}}, "empty ID"},
		{"duplicate ID", Options{}, []Member{{ID: "b"}, {ID: "a"}, {ID: "b", Weight: 2}}, `duplicate ID "b"`},
		{"negative weight", Options{}, []Member{{ID: "a", Weight: -1}}, `"a": Weight`},
		{"NaN weight", Options{}, []Member{{ID: "a", Weight: math.NaN()}}, `"a": Weight`},
		{"infinite weight", Options{}, []Member{{ID: "a", Weight: math.Inf(1)}}, `"a": Weight`},
		{"weight too large", Options{}, []Member{{ID: "a", Weight: MaxWeight + 1}}, `"a": Weight`},
		{"too many points", Options{VirtualNodes: MaxVirtualNodes},
			[]Member{{ID: "a", Weight: MaxWeight}, {ID: "b", Weight: MaxWeight}}, "ring points"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts, tt.members)
			if !errors.Is(err, ErrInvalidMember) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want ErrInvalidMember containing %q", err, tt.want)
			}
		})
	}
}

func TestEmptyRing(t *testing.T) {
	r, err := New(Options{Partitions: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Assignment(); !reflect.DeepEqual(got, make([]string, 8)) {
		t.Fatalf("Assignment() = %q, want 8 empty owners", got)
	}
	if got := r.Partitions("a"); got != nil {
		t.Fatalf("Partitions(unknown) = %v, want nil", got)
	}
	if got := r.Capacity("a"); got != 0 {
		t.Fatalf("Capacity(unknown) = %d, want 0", got)
	}
	one, _ := New(Options{Partitions: 8}, []Member{{ID: "a"}})
	moves, err := Diff(r, one)
	if err != nil || len(moves) != 8 || moves[0] != (Move{Partition: 0, From: "", To: "a"}) {
		t.Fatalf("Diff(empty, one member) = %v, %v; want all 8 partitions from \"\" to a", moves, err)
	}
}

func TestOwnerAndPartitions(t *testing.T) {
	r, err := New(Options{Partitions: 16}, []Member{{ID: "c"}, {ID: "a"}, {ID: "b", Weight: 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{-1, 16, math.MaxInt} {
		if got := r.Owner(p); got != "" {
			t.Errorf("Owner(%d) = %q, want \"\" out of range", p, got)
		}
	}
	seen := make([]bool, 16)
	caps := map[string]int{"a": 4, "b": 8, "c": 4} // ceil(16*w/4)
	for _, m := range r.Members() {
		ps := r.Partitions(m.ID)
		if !slices.IsSorted(ps) {
			t.Errorf("Partitions(%s) = %v, not ascending", m.ID, ps)
		}
		if c := r.Capacity(m.ID); c != caps[m.ID] {
			t.Errorf("Capacity(%s) = %d, want %d", m.ID, c, caps[m.ID])
		}
		if len(ps) != caps[m.ID] { // capacities sum to P here, so each is met exactly
			t.Errorf("%s holds %d partitions, want %d", m.ID, len(ps), caps[m.ID])
		}
		for _, p := range ps {
			if seen[p] {
				t.Errorf("partition %d listed twice", p)
			}
			seen[p] = true
			if got := r.Owner(p); got != m.ID {
				t.Errorf("Owner(%d) = %q, but Partitions(%s) lists it", p, got, m.ID)
			}
		}
	}
	if got := r.Members(); !slices.Equal(got, []Member{{ID: "a"}, {ID: "b", Weight: 2}, {ID: "c"}}) {
		t.Errorf("Members() = %v, want sorted by ID", got)
	}
	if r.NumPartitions() != 16 || r.Options() != (Options{Partitions: 16, VirtualNodes: DefaultVirtualNodes, LoadFactor: 1}) {
		t.Errorf("NumPartitions() = %d, Options() = %+v", r.NumPartitions(), r.Options())
	}
}

// TestDeterministic checks that the assignment depends on the member set
// only: not on slice order, and weight 0 is weight 1.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for trial := range 20 {
		ids := memberNames(rng, 2+rng.IntN(30), trial)
		ms := make([]Member, len(ids))
		for i, id := range ids {
			ms[i] = Member{ID: id}
		}
		a, err := New(Options{}, ms)
		if err != nil {
			t.Fatal(err)
		}
		rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		for i := range ms {
			ms[i].Weight = 1
		}
		b, err := New(Options{}, ms)
		if err != nil {
			t.Fatal(err)
		}
		if moves, _ := Diff(a, b); len(moves) != 0 {
			t.Fatalf("trial %d: shuffling the members and weight 0 -> 1 moved %v", trial, moves)
		}
	}
}

// TestPlainConsistentHashing checks that with capacities no member reaches
// (LoadFactor at its maximum, few members), every partition goes to the
// member of the first virtual node clockwise from it.
func TestPlainConsistentHashing(t *testing.T) {
	opts := Options{Partitions: 64, VirtualNodes: 16, LoadFactor: MaxLoadFactor}.withDefaults()
	ids := []string{"a", "b", "c"}
	r := mustRing(t, opts, ids)
	for p := range 64 {
		best, owner := ^uint64(0), ""
		for _, id := range ids {
			if d := distanceTo(opts, id, p); d < best {
				best, owner = d, id
			}
		}
		if got := r.Owner(p); got != owner {
			t.Fatalf("Owner(%d) = %s, plain consistent hashing says %s", p, got, owner)
		}
	}
}

func TestReturnedSlicesAreCopies(t *testing.T) {
	in := []Member{{ID: "a"}, {ID: "b"}}
	r, _ := New(Options{Partitions: 4}, in)
	before := r.Assignment()
	in[0].ID = "z"
	r.Assignment()[0] = "x"
	if ps := r.Partitions("a"); len(ps) > 0 {
		ps[0] = 99
	}
	r.Members()[0].ID = "y"
	if got := r.Assignment(); !slices.Equal(got, before) {
		t.Fatalf("ring changed through a returned or input slice: %q -> %q", before, got)
	}
	if r.Members()[0].ID != "a" {
		t.Fatalf("Members changed through a returned slice")
	}
}

func TestDiff(t *testing.T) {
	two := mustRing(t, Options{Partitions: 8}, []string{"a", "b"})
	three := mustRing(t, Options{Partitions: 8}, []string{"a", "b", "c"})
	other := mustRing(t, Options{Partitions: 16}, []string{"a", "b"})

	moves, err := Diff(two, three)
	if err != nil {
		t.Fatal(err)
	}
	// Every listed move is a real difference, and every difference is listed.
	listed := map[int]Move{}
	for i, m := range moves {
		if i > 0 && moves[i-1].Partition >= m.Partition {
			t.Fatalf("moves not in ascending partition order: %v", moves)
		}
		listed[m.Partition] = m
	}
	for p := range 8 {
		from, to := two.Owner(p), three.Owner(p)
		m, ok := listed[p]
		if ok != (from != to) || ok && (m.From != from || m.To != to) {
			t.Fatalf("partition %d: owners %s -> %s, Diff says %+v (listed %v)", p, from, to, m, ok)
		}
	}
	if len(moves) == 0 {
		t.Fatal("adding a third member to 8 partitions moved nothing")
	}

	tests := []struct {
		name    string
		a, b    *Ring
		want    int
		wantErr error
	}{
		{"same ring", three, three, 0, nil},
		{"both nil", nil, nil, 0, nil},
		{"from nil", nil, two, 8, nil},
		{"to nil", two, nil, 8, nil},
		{"partition counts differ", two, other, 0, ErrPartitionsDiffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			moves, err := Diff(tt.a, tt.b)
			if !errors.Is(err, tt.wantErr) || len(moves) != tt.want {
				t.Fatalf("Diff = %d moves, %v; want %d, %v", len(moves), err, tt.want, tt.wantErr)
			}
			if tt.name == "to nil" && (moves[0].To != "" || moves[0].From != two.Owner(0)) {
				t.Fatalf("Diff(r, nil)[0] = %+v, want From %s To \"\"", moves[0], two.Owner(0))
			}
		})
	}
}

// TestGoldenAssignment pins the hash functions and the algorithm: every
// aggregator must compute the same assignment, so a change here is a
// protocol change (run with -update only on purpose).
func TestGoldenAssignment(t *testing.T) {
	r, err := New(Options{}, []Member{
		{ID: "aggregator-0"}, {ID: "aggregator-1"}, {ID: "aggregator-2"},
		{ID: "aggregator-3"}, {ID: "eu-west-big", Weight: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for p, owner := range r.Assignment() {
		fmt.Fprintf(&b, "%d %s\n", p, owner)
	}
	path := filepath.Join("testdata", "assignment.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGoldenAssignment -update to create it)", err)
	}
	if b.String() != string(want) {
		t.Fatalf("assignment differs from %s:\n%s", path, b.String())
	}
}

// TestConcurrentReads exercises the read methods from many goroutines; run
// with -race to check that they do not write shared state.
func TestConcurrentReads(t *testing.T) {
	r := mustRing(t, Options{}, ordinalNames(10))
	want := r.Assignment()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for p := range 64 {
				if r.Owner((p+g)%64) != want[(p+g)%64] {
					t.Error("Owner changed during concurrent reads")
				}
				_ = r.Partitions(want[p])
				_ = r.Assignment()
			}
		})
	}
	wg.Wait()
}

// FuzzNew checks the invariants for arbitrary member IDs and weights: every
// partition owned, no member over capacity, the result independent of
// member order.
func FuzzNew(f *testing.F) {
	f.Add([]byte("a\x00b\x00c"), uint8(64), uint8(8))
	f.Add([]byte("aggregator-0\x01aggregator-1\x07x"), uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, parts, vnodes uint8) {
		fields := strings.FieldsFunc(string(raw), func(r rune) bool { return r < 8 })
		seen := map[string]bool{}
		var ms []Member
		for i, id := range fields {
			if !seen[id] {
				seen[id] = true
				ms = append(ms, Member{ID: id, Weight: float64(i%4) / 2}) // 0, 0.5, 1, 1.5
			}
		}
		opts := Options{Partitions: int(parts), VirtualNodes: int(vnodes)}
		r, err := New(opts, ms)
		if err != nil {
			t.Fatal(err)
		}
		owned := 0
		for _, m := range ms {
			n := len(r.Partitions(m.ID))
			if n > r.Capacity(m.ID) {
				t.Fatalf("%q holds %d partitions, capacity %d", m.ID, n, r.Capacity(m.ID))
			}
			owned += n
		}
		if len(ms) > 0 && owned != r.NumPartitions() {
			t.Fatalf("%d of %d partitions owned", owned, r.NumPartitions())
		}
		slices.Reverse(ms)
		r2, err := New(opts, ms)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Assignment(), r2.Assignment()) {
			t.Fatal("assignment depends on member order")
		}
	})
}
