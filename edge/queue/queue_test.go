package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batchQueue is the API every implementation under test offers.
type batchQueue interface {
	PushBatch([]Sample) int
	PopBatch([]Sample) int
	Len() int
	Cap() int
	Close() error
}

type testImpl struct {
	name string
	new  func(capacity int) (batchQueue, error)
	ring bool // a ring under test, not the channel baseline
}

// testImpls lists the implementations in this build; ring_cgo_test.go adds
// the cgo ring when it is compiled.
var testImpls = []testImpl{
	{"go", func(c int) (batchQueue, error) { return newGoRing(c) }, true},
	{"chan", func(c int) (batchQueue, error) { return newChanQueue(c) }, false},
	{"Queue", func(c int) (batchQueue, error) { return New(c) }, true},
}

func mustNew(t testing.TB, impl testImpl, capacity int) batchQueue {
	t.Helper()
	q, err := impl.new(capacity)
	if err != nil {
		t.Fatalf("%s: new(%d): %v", impl.name, capacity, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// sample returns a sample whose every field depends on i, so a layout or
// copy mistake shows up as a mismatch.
func sample(i int) Sample {
	return Sample{TS: 1_700_000_000_000 + int64(i), Value: float64(i) + 0.25, Series: uint32(i)*7 + 1, Flags: uint32(i) ^ 0xA5A5}
}

func samples(from, n int) []Sample {
	s := make([]Sample, n)
	for i := range s {
		s[i] = sample(from + i)
	}
	return s
}

func TestNewCapacity(t *testing.T) {
	tests := []struct {
		capacity, want int
		err            bool
	}{
		{capacity: -1, err: true},
		{capacity: 0, err: true},
		{capacity: MaxCapacity + 1, err: true},
		{capacity: 1, want: 1},
		{capacity: 2, want: 2},
		{capacity: 3, want: 4},
		{capacity: 1000, want: 1024},
		{capacity: 1024, want: 1024},
		{capacity: 1025, want: 2048},
	}
	for _, impl := range testImpls {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", impl.name, tt.capacity), func(t *testing.T) {
				q, err := impl.new(tt.capacity)
				if tt.err {
					if !errors.Is(err, ErrCapacity) {
						t.Fatalf("err = %v, want ErrCapacity", err)
					}
					if !strings.Contains(err.Error(), fmt.Sprint(tt.capacity)) {
						t.Errorf("error %q does not name the bad value %d", err, tt.capacity)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer q.Close()
				if got := q.Cap(); got != tt.want {
					t.Errorf("Cap() = %d, want %d", got, tt.want)
				}
			})
		}
	}
	// MaxCapacity itself is accepted (without allocating 512 MiB here).
	if got, err := roundCapacity(MaxCapacity); err != nil || got != MaxCapacity {
		t.Errorf("roundCapacity(MaxCapacity) = %d, %v", got, err)
	}
}

func TestFullEmpty(t *testing.T) {
	for _, impl := range testImpls {
		t.Run(impl.name, func(t *testing.T) {
			q := mustNew(t, impl, 8)
			dst := make([]Sample, 16)
			if n := q.PopBatch(dst); n != 0 {
				t.Fatalf("PopBatch on empty = %d", n)
			}
			if n := q.PushBatch(nil); n != 0 {
				t.Fatalf("PushBatch(nil) = %d", n)
			}
			if n := q.PopBatch(nil); n != 0 {
				t.Fatalf("PopBatch(nil) = %d", n)
			}
			if n := q.PushBatch(samples(0, 5)); n != 5 {
				t.Fatalf("PushBatch(5) = %d, want 5", n)
			}
			if n := q.PushBatch(samples(5, 5)); n != 3 {
				t.Fatalf("PushBatch(5) into 3 free = %d, want 3 (short count)", n)
			}
			if n := q.PushBatch(samples(100, 1)); n != 0 {
				t.Fatalf("PushBatch on full = %d, want 0", n)
			}
			if l := q.Len(); l != 8 {
				t.Fatalf("Len() = %d, want 8", l)
			}
			if n := q.PopBatch(dst[:3]); n != 3 || !slices.Equal(dst[:3], samples(0, 3)) {
				t.Fatalf("PopBatch(3) = %d %v, want samples 0..2", n, dst[:n])
			}
			if n := q.PushBatch(samples(8, 4)); n != 3 {
				t.Fatalf("PushBatch(4) into 3 free = %d, want 3", n)
			}
			if n := q.PopBatch(dst); n != 8 || !slices.Equal(dst[:8], samples(3, 8)) {
				t.Fatalf("PopBatch = %d %v, want samples 3..10", n, dst[:n])
			}
			if l := q.Len(); l != 0 {
				t.Fatalf("Len() after draining = %d", l)
			}
			if n := q.PopBatch(dst); n != 0 {
				t.Fatalf("PopBatch after draining = %d", n)
			}
		})
	}
}

// TestWraparound drives each queue through many laps with random batch
// sizes and checks every result against a slice model.
func TestWraparound(t *testing.T) {
	for _, impl := range testImpls {
		for _, capacity := range []int{1, 4, 64} {
			t.Run(fmt.Sprintf("%s/cap=%d", impl.name, capacity), func(t *testing.T) {
				q := mustNew(t, impl, capacity)
				rng := rand.New(rand.NewPCG(1, uint64(capacity)))
				var model []Sample
				next := 0
				dst := make([]Sample, 2*capacity+1)
				for step := range 20_000 {
					if rng.IntN(2) == 0 {
						k := rng.IntN(2*capacity + 1)
						src := samples(next, k)
						n := q.PushBatch(src)
						want := min(k, capacity-len(model))
						if n != want {
							t.Fatalf("step %d: PushBatch(%d) with %d queued = %d, want %d", step, k, len(model), n, want)
						}
						model = append(model, src[:n]...)
						next += n
					} else {
						k := rng.IntN(len(dst) + 1)
						n := q.PopBatch(dst[:k])
						want := min(k, len(model))
						if n != want || !slices.Equal(dst[:n], model[:want]) {
							t.Fatalf("step %d: PopBatch(%d) = %d %v, want %v", step, k, n, dst[:n], model[:want])
						}
						model = model[n:]
					}
					if l := q.Len(); l != len(model) {
						t.Fatalf("step %d: Len() = %d, want %d", step, l, len(model))
					}
				}
				if next < 10*capacity {
					t.Fatalf("only %d samples went through a ring of %d: not enough laps", next, capacity)
				}
			})
		}
	}
}

func TestStats(t *testing.T) {
	q, err := New(4)
	if err != nil {
		t.Fatal(err)
	}
	q.PushBatch(samples(0, 6)) // 4 fit
	q.PopBatch(make([]Sample, 3))
	want := Stats{Pushed: 4, Popped: 3}
	if got := q.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats(); got != want {
		t.Errorf("Stats() after Close = %+v, want %+v", got, want)
	}
}

func TestClose(t *testing.T) {
	for _, impl := range testImpls {
		if !impl.ring {
			continue
		}
		t.Run(impl.name, func(t *testing.T) {
			q, err := impl.new(8)
			if err != nil {
				t.Fatal(err)
			}
			q.PushBatch(samples(0, 4))
			for range 2 { // idempotent
				if err := q.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if n := q.PushBatch(samples(0, 1)); n != 0 {
				t.Errorf("PushBatch after Close = %d", n)
			}
			if n := q.PopBatch(make([]Sample, 8)); n != 0 {
				t.Errorf("PopBatch after Close = %d", n)
			}
			if l := q.Len(); l != 0 {
				t.Errorf("Len after Close = %d", l)
			}
			if c := q.Cap(); c != 8 {
				t.Errorf("Cap after Close = %d", c)
			}
		})
	}
}

// TestNoAllocs checks that moving a batch does not allocate (for the cgo
// ring: that noescape keeps the slices on the caller's stack).
func TestNoAllocs(t *testing.T) {
	for _, impl := range testImpls {
		t.Run(impl.name, func(t *testing.T) {
			q := mustNew(t, impl, 64)
			var src, dst [16]Sample
			allocs := testing.AllocsPerRun(100, func() {
				if q.PushBatch(src[:]) != 16 || q.PopBatch(dst[:]) != 16 {
					t.Fatal("batch did not go through")
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per push+pop, want 0", allocs)
			}
		})
	}
}

// stressBudget bounds the whole of TestStress, every subtest together, so
// that a queue that stops making progress fails the test within this long
// instead of running until the go test timeout. Healthy runs take well under
// a second alone and a few seconds on a loaded two-core machine (more with
// -race).
const stressBudget = 90 * time.Second

// TestStress runs several producers against one consumer and checks that
// every (producer, seq) arrives exactly once, in each producer's order,
// with every field intact. In the "live" cases the consumer pops while
// producers push; small capacities keep the ring full and wrapping. On two
// cores the consumer then holds one of them, so producers rarely push at
// the same instant; in the "fill" cases the consumer waits until producers
// have filled a ring big enough for everything, so they contend on every
// reservation. Run it with -race too.
func TestStress(t *testing.T) {
	const producers = 4
	// Sizes are kept small: the cap=2 cases hand samples over two at a
	// time, and on a loaded machine each hand-off may wait for the OS to
	// run the other side.
	perProducer, fillRounds := 20_000, 3
	if testing.Short() {
		perProducer, fillRounds = 2_000, 2
	}
	deadline := time.Now().Add(stressBudget)
	if d, ok := t.Deadline(); ok && d.Add(-5*time.Second).Before(deadline) {
		deadline = d.Add(-5 * time.Second) // fail before go test's own timeout
	}
	for _, impl := range testImpls {
		for _, capacity := range []int{2, 64, 1024} {
			t.Run(fmt.Sprintf("%s/live/cap=%d", impl.name, capacity), func(t *testing.T) {
				q := mustNew(t, impl, capacity)
				stress(t, q, producers, perProducer, 64, true, deadline)
			})
		}
		t.Run(impl.name+"/fill", func(t *testing.T) {
			// A reservation race is a window of nanoseconds; several
			// rounds make missing one unlikely.
			for range fillRounds {
				q := mustNew(t, impl, producers*perProducer)
				stress(t, q, producers, perProducer, 4, false, deadline)
				q.Close()
			}
		})
	}
}

// stressSample encodes producer p's seq-th sample.
func stressSample(p, seq int) Sample {
	return Sample{TS: int64(seq), Value: float64(seq)*0.5 + float64(p), Series: uint32(p), Flags: uint32(seq) ^ uint32(p)<<24}
}

// spinYields is how many times in a row a waiting test goroutine yields
// with runtime.Gosched before it starts to sleep.
const spinYields = 64

// backoff paces a test goroutine waiting on the other side of a queue: a
// producer on a full one, the consumer on an empty one. runtime.Gosched lets
// the other goroutines of this process run but keeps the OS thread busy, so
// on a loaded machine spinners compete for the cores with the thread they
// wait for — typically a producer descheduled between reserving slots and
// publishing them, which holds the consumer (and, on a full ring, every
// producer) until it runs again. After spinYields yields in a row the
// waiter sleeps, 1 µs doubling up to about 1 ms, which idles its thread.
// The sleeps only pace the waiting; no result depends on them.
type backoff struct{ n int }

func (b *backoff) wait() {
	b.n++
	if b.n <= spinYields {
		runtime.Gosched()
		return
	}
	time.Sleep(time.Microsecond << min(b.n-spinYields, 10))
}

// reset is called after progress, so the next wait spins first again.
func (b *backoff) reset() { b.n = 0 }

// producersStopLimit is how long stress waits for its producers to return
// once told to stop. PushBatch never blocks, so they return at their next
// call; a producer still running after this is stuck inside the queue.
const producersStopLimit = 30 * time.Second

// stress pushes perProducer samples from each of producers goroutines in
// random batches of 1..maxBatch and pops them all, checking each; live
// says whether to pop while they push or only after they finish. It fails
// the test if the samples are not all through by deadline. Whether it passes
// or fails, the producers have returned when it returns, so the caller may
// close q: a producer outliving a failed test would push into a closed
// queue, spinning forever on the Go ring and writing freed C memory on the
// cgo ring.
func stress(t *testing.T, q batchQueue, producers, perProducer, maxBatch int, live bool, deadline time.Time) {
	var (
		wg   sync.WaitGroup
		stop atomic.Bool // set when the consumer gives up or finishes
	)
	start, done := make(chan struct{}), make(chan struct{})
	for p := range producers {
		wg.Go(func() {
			<-start // all at once, so they contend
			rng := rand.New(rand.NewPCG(uint64(p), 42))
			buf := make([]Sample, maxBatch)
			var bo backoff
			for seq := 0; seq < perProducer; {
				k := min(1+rng.IntN(len(buf)), perProducer-seq)
				for i := range k {
					buf[i] = stressSample(p, seq+i)
				}
				for off := 0; off < k; {
					if stop.Load() {
						return
					}
					n := q.PushBatch(buf[off:k])
					if n == 0 {
						bo.wait() // full: let the consumer run
						continue
					}
					bo.reset()
					off += n
				}
				seq += k
			}
		})
	}
	close(start)
	go func() { wg.Wait(); close(done) }()
	// Runs on every return, including t.Fatalf's.
	defer func() {
		stop.Store(true)
		select {
		case <-done:
		case <-time.After(producersStopLimit):
			// Closing q now would race with the stuck producer; end
			// the process with every goroutine's stack instead.
			panic(fmt.Sprintf("queue stress: producers still inside PushBatch %v after being told to stop", producersStopLimit))
		}
	}()

	next := make([]int, producers) // next expected seq per producer
	timeout := func(what string) {
		t.Fatalf("%s by the deadline (TestStress has %v in all); received %v of %d each", what, stressBudget, next, perProducer)
	}
	if !live {
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			timeout("producers did not fill the queue")
		}
	}
	dst := make([]Sample, 48)
	check := func(n int) {
		for _, s := range dst[:n] {
			p := int(s.Series)
			if p >= producers {
				t.Fatalf("sample from unknown producer: %+v", s)
			}
			if want := stressSample(p, next[p]); s != want {
				t.Fatalf("producer %d: got %+v, want %+v (lost, duplicated, reordered or torn)", p, s, want)
			}
			next[p]++
		}
	}
	var bo backoff
	for finished := false; ; {
		// Checked on every pass, not only when the queue is empty: a queue
		// that trickles must fail too, not only one that stops.
		if time.Now().After(deadline) {
			timeout("samples not all through")
		}
		n := q.PopBatch(dst)
		check(n)
		if n > 0 {
			bo.reset()
			continue
		}
		if finished {
			break // producers done and a pop after that found nothing
		}
		select {
		case <-done:
			finished = true // every PushBatch has returned: drain what is left
		default:
			bo.wait()
		}
	}
	for p, n := range next {
		if n != perProducer {
			t.Errorf("producer %d: received %d samples, want %d", p, n, perProducer)
		}
	}
	if l := q.Len(); l != 0 {
		t.Errorf("Len() = %d after draining", l)
	}
}
