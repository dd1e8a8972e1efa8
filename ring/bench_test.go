package ring

import (
	"fmt"
	"testing"
)

var (
	sinkString string
	sinkInt    int
)

func BenchmarkOwner(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			r := mustRing(b, Options{}, ordinalNames(n))
			b.ReportAllocs()
			p := 0
			for b.Loop() {
				sinkString = r.Owner(p)
				p = (p + 1) & 63
			}
		})
	}
}

// BenchmarkLookup is the full path from a subject's tokens to the owner.
func BenchmarkLookup(b *testing.B) {
	r := mustRing(b, Options{}, ordinalNames(10))
	b.ReportAllocs()
	for b.Loop() {
		sinkString = r.Owner(PartitionOfTokens(64, "shop-berlin-3", "pos-12"))
	}
}

func BenchmarkPartitionOf(b *testing.B) {
	key := []byte("shop-berlin-3pos-12")
	b.SetBytes(int64(len(key)))
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = PartitionOf(key, 64)
	}
}

func BenchmarkNew(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ms := make([]Member, n)
			for i, id := range ordinalNames(n) {
				ms[i] = Member{ID: id}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(Options{}, ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDiff(b *testing.B) {
	ids := ordinalNames(51)
	a := mustRing(b, Options{}, ids[:50])
	c := mustRing(b, Options{}, ids)
	b.ReportAllocs()
	for b.Loop() {
		moves, _ := Diff(a, c)
		sinkInt = len(moves)
	}
}

// BenchmarkRebalance times one join: Rebalance of an N-member assignment
// with one member more.
func BenchmarkRebalance(b *testing.B) {
	for _, n := range []int{3, 10, 50} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ids := ordinalNames(n + 1)
			prev := mustRebalance(b, Options{}, nil, membersOf(ids[:n], nil)).Assignment()
			ms := membersOf(ids, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Rebalance(Options{}, prev, ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
