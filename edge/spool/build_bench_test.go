package spool

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkAgentMinutes replays what a connected agent with the shipped
// defaults writes into the spool's Badger, one iteration per minute: the
// raw history's minute (580 series-minute blocks of ~100 bytes, the size
// a 580-series host writes) and one window's batch (75 KB, about half of
// it compressible, like an encoded window), acknowledged a minute later.
// It reports the Go heap allocated per minute: Badger's memtable flushes
// and compactions build their tables on the Go heap, and with the agent's
// tight GC pacing (heap_headroom) that allocation is its RSS peak. Run
// with -memprofile to see which builder allocated it.
func BenchmarkAgentMinutes(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir() + "/spool", NoSync: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]byte, 75_000)
	for i := 0; i < len(batch)/2; i++ {
		batch[i] = byte(rng.Uint32())
	}
	val := make([]byte, 100)
	key := make([]byte, 0, 64)
	var prev uint64
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for m := 0; m < b.N; m++ {
		wb := s.DB().NewWriteBatch()
		for sr := 0; sr < 580; sr++ {
			key = append(key[:0], 'h')
			key = binary.BigEndian.AppendUint64(key, uint64(m)*60000)
			key = append(key, "node_network_receive_bytes_total\x00device\x00eth"...)
			key = binary.BigEndian.AppendUint32(key, uint32(sr))
			for i := range val {
				val[i] = byte(rng.Uint32() >> 28)
			}
			if err := wb.Set(append([]byte(nil), key...), append([]byte(nil), val...)); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
		seq, err := s.Append(func(uint64) ([]byte, error) { return batch, nil })
		if err != nil {
			b.Fatal(err)
		}
		if prev != 0 {
			if err := s.Ack(prev); err != nil {
				b.Fatal(err)
			}
		}
		prev = seq
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/1e6, "heapMB/minute")
}
