package queue

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// benchCapacity is the ring size the benchmarks use.
const benchCapacity = 4096

// BenchmarkQueue moves b.N samples from producers goroutines to one
// consumer through each implementation, pushing and popping batch samples
// per call. One op is one sample, so ns/op is ns per sample; samples/s is
// reported too. On full or empty the caller yields (runtime.Gosched), as a
// non-blocking caller would.
func BenchmarkQueue(b *testing.B) {
	for _, impl := range testImpls {
		if impl.name == "Queue" {
			continue // it is one of the others; Impl says which
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			for _, batch := range []int{1, 16, 256} {
				b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
					for _, producers := range []int{1, 2} {
						b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
							benchQueue(b, impl, batch, producers)
						})
					}
				})
			}
		})
	}
}

func benchQueue(b *testing.B, impl testImpl, batch, producers int) {
	q := mustNew(b, impl, benchCapacity)
	bufs := make([][]Sample, producers)
	for p := range bufs {
		bufs[p] = samples(0, batch)
	}
	dst := make([]Sample, batch)
	b.SetBytes(SampleSize)
	b.ReportAllocs()
	b.ResetTimer()

	var wg sync.WaitGroup
	for p := range producers {
		share := b.N / producers
		if p == 0 {
			share += b.N % producers
		}
		wg.Go(func() {
			buf := bufs[p]
			for share > 0 {
				n := q.PushBatch(buf[:min(share, batch)])
				if n == 0 {
					runtime.Gosched()
				}
				share -= n
			}
		})
	}
	for got := 0; got < b.N; {
		n := q.PopBatch(dst)
		if n == 0 {
			runtime.Gosched()
		}
		got += n
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkPushPop pushes one batch and pops it again on one goroutine: the
// bare per-call cost without scheduling, contention or cache traffic.
func BenchmarkPushPop(b *testing.B) {
	for _, impl := range testImpls {
		if impl.name == "Queue" {
			continue
		}
		b.Run("impl="+impl.name, func(b *testing.B) {
			for _, batch := range []int{1, 16, 256} {
				b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
					q := mustNew(b, impl, benchCapacity)
					src, dst := samples(0, batch), make([]Sample, batch)
					b.SetBytes(int64(batch) * SampleSize)
					b.ReportAllocs()
					for b.Loop() {
						if q.PushBatch(src) != batch || q.PopBatch(dst) != batch {
							b.Fatal("batch did not go through")
						}
					}
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
				})
			}
		})
	}
}
