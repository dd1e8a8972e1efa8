package uibench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// Percentile is the nearest-rank p-quantile of v (NaN when empty).
func Percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// SeedFleet writes windows minutes of 60 s windows, ending now, for hosts
// synthetic hosts spread over sites sites straight into the store, with
// the series the fleet page reads. It returns the hosts written.
func SeedFleet(ctx context.Context, st *store.Store, sites, hosts, windows int, now time.Time) (int, error) {
	const width = 60_000
	last := now.UnixMilli()/width*width - width
	series := []codec.Series{
		{ID: 1, Name: "node_load1", Kind: codec.Gauge, Labels: []string{"job", "node"}},
		{ID: 2, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "0", "job", "node", "mode", "idle"}},
		{ID: 3, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "1", "job", "node", "mode", "idle"}},
		{ID: 4, Name: "node_memory_MemAvailable_bytes", Kind: codec.Gauge, Labels: []string{"job", "node"}},
		{ID: 5, Name: "node_memory_MemTotal_bytes", Kind: codec.Gauge, Labels: []string{"job", "node"}},
		{ID: 6, Name: "node_filesystem_avail_bytes", Kind: codec.Gauge, Labels: []string{"device", "/dev/sda1", "fstype", "ext4", "job", "node", "mountpoint", "/"}},
		{ID: 7, Name: "node_filesystem_size_bytes", Kind: codec.Gauge, Labels: []string{"device", "/dev/sda1", "fstype", "ext4", "job", "node", "mountpoint", "/"}},
	}
	for h := range hosts {
		site := fmt.Sprintf("site%02d", h%sites)
		host := fmt.Sprintf("sim-%04d", h)
		for w := range windows {
			start := last - int64(windows-1-w)*width
			x := float64(h%17) / 17
			val := func(id uint32, v float64) codec.Rollup {
				return codec.Rollup{ID: id, Count: 60, Sum: 60 * v, Min: v * 0.9, Max: v * 1.1, First: math.NaN(), Last: v}
			}
			idle := 0.5 + 0.4*math.Sin(float64(w)/3+x*6)
			cpu0, cpu1 := val(2, idle), val(3, idle*0.9)
			cpu0.Last, cpu1.Last = 1e5+float64(w)*60*idle, 1e5+float64(w)*54*idle
			b := &codec.Batch{Version: codec.Version, Agent: site + "/" + host, Site: site, Host: host, Seq: uint64(w + 1),
				Start: start, Width: width, Series: series, Rollups: []codec.Rollup{
					val(1, 0.2+2*x+0.3*math.Sin(float64(w)/2)), cpu0, cpu1,
					val(4, (2+4*x)*(1<<30)), val(5, 8*(1<<30)), val(6, (10+50*x)*(1<<30)), val(7, 100*(1<<30)),
				}}
			if err := st.Apply(ctx, b); err != nil {
				return h, fmt.Errorf("seeding %s/%s: %w", site, host, err)
			}
		}
	}
	return hosts, nil
}
