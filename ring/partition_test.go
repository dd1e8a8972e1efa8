package ring

import (
	"hash/fnv"
	"testing"
)

// TestPartitionOfNATS pins PartitionOf and PartitionOfTokens to
// nats-server's subject mapping partition function (v2.15.2,
// server/subject_transform.go getHashPartition).
//
// The "upstream" rows are the expectations of nats-server's own
// TestSubjectTransforms (server/subject_transform_test.go). The "server"
// rows were produced by running server.NewSubjectTransform(src, dst).Match
// of nats-server v2.15.2 on the subject shown; the ring package does not
// import nats-server, so they are copied here as literals.
func TestPartitionOfNATS(t *testing.T) {
	tests := []struct {
		source  string // mapping and subject the value came from
		n       int
		tokens  []string // tokens nats-server hashes (concatenated)
		subject string   // or: the whole subject (shorthand partition(n))
		want    int
	}{
		// upstream: shouldMatch("*", "bar.{{partition(10, 0)}}", "foo", "bar.3") etc.
		{source: "upstream partition(10,0) foo", n: 10, tokens: []string{"foo"}, want: 3},
		{source: "upstream partition(10) foo.bar", n: 10, subject: "foo.bar", want: 6},
		{source: "upstream partition(10) foo", n: 10, subject: "foo", want: 3},
		{source: "upstream partition(10) baz", n: 10, subject: "baz", want: 0},
		{source: "upstream partition(10) qux", n: 10, subject: "qux", want: 9},
		{source: "upstream partition(10) foo.baz", n: 10, subject: "foo.baz", want: 4},
		{source: "upstream partition(5) test.subject", n: 5, subject: "test.subject", want: 0},
		{source: "upstream partition(0) baz", n: 0, subject: "baz", want: 0},
		// server: edge.*.* -> p.{{partition(64,1,2)}}
		{source: "server edge.plant-7.host-0042", n: 64, tokens: []string{"plant-7", "host-0042"}, want: 33},
		{source: "server edge.siteA.host1", n: 64, tokens: []string{"siteA", "host1"}, want: 2},
		{source: "server edge.shop-berlin-3.pos-12", n: 64, tokens: []string{"shop-berlin-3", "pos-12"}, want: 22},
		{source: "server edge.ab.c (no separator)", n: 64, tokens: []string{"ab", "c"}, want: 11},
		{source: "server edge.a.bc (no separator)", n: 64, tokens: []string{"a", "bc"}, want: 11},
		// server: other token orders, counts and n
		{source: "server partition(64,2,1) edge.siteA.host1", n: 64, tokens: []string{"host1", "siteA"}, want: 24},
		{source: "server partition(64,1) edge.siteA.host1", n: 64, tokens: []string{"siteA"}, want: 29},
		{source: "server partition(7,1,2) edge.siteA.host1", n: 7, tokens: []string{"siteA", "host1"}, want: 1},
		{source: "server partition(1000,1,2) edge.tower-19.gw-3", n: 1000, tokens: []string{"tower-19", "gw-3"}, want: 337},
		{source: "server edge.* partition(64,1) edge.x", n: 64, tokens: []string{"x"}, want: 7},
		// server: shorthand partition(64) hashes the subject joined by "."
		{source: "server partition(64) edge.siteA.host1", n: 64, subject: "edge.siteA.host1", want: 51},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			key := tt.subject
			if tt.tokens != nil {
				key = ""
				for _, tok := range tt.tokens {
					key += tok
				}
				if got := PartitionOfTokens(tt.n, tt.tokens...); got != tt.want {
					t.Errorf("PartitionOfTokens(%d, %q) = %d, want %d", tt.n, tt.tokens, got, tt.want)
				}
			}
			if got := PartitionOf([]byte(key), tt.n); got != tt.want {
				t.Errorf("PartitionOf(%q, %d) = %d, want %d", key, tt.n, got, tt.want)
			}
		})
	}
}

// TestPartitionOfMatchesHashFNV cross-checks the inlined FNV-1a against
// hash/fnv, which nats-server uses.
func TestPartitionOfMatchesHashFNV(t *testing.T) {
	for _, key := range []string{"", "a", "siteAhost1", "\x00\xff", "edge.plant-7.host-0042"} {
		h := fnv.New32a()
		h.Write([]byte(key))
		for _, n := range []int{1, 7, 64, 1<<31 - 1} {
			want := int(h.Sum32() % uint32(n))
			if got := PartitionOf([]byte(key), n); got != want {
				t.Errorf("PartitionOf(%q, %d) = %d, hash/fnv says %d", key, n, got, want)
			}
		}
	}
	if got := PartitionOf([]byte("x"), -3); got != 0 {
		t.Errorf("PartitionOf(n=-3) = %d, want 0 like nats-server", got)
	}
}

func FuzzPartitionOfTokens(f *testing.F) {
	f.Add("siteA", "host1", 64)
	f.Add("", "", 1)
	f.Fuzz(func(t *testing.T, a, b string, n int) {
		got := PartitionOfTokens(n, a, b)
		if want := PartitionOf([]byte(a+b), n); got != want {
			t.Fatalf("PartitionOfTokens(%d, %q, %q) = %d, PartitionOf of the concatenation = %d", n, a, b, got, want)
		}
		if n > 0 && (got < 0 || got >= n) || n <= 0 && got != 0 {
			t.Fatalf("partition %d out of range for n = %d", got, n)
		}
	})
}
