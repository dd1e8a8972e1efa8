package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// statNames are the statistics of a window, one OpenMetrics sample each.
var statNames = [...]string{"count", "sum", "min", "max", "first", "last", "p50", "p90", "p99"}

// promSample keeps the retained windows of a few hosts, decoded from the
// frames published, for the Prometheus TSDB comparison.
type promSample struct {
	hosts []*simHost
	defs  []seriesDef
	decs  []*codec.Decoder
	ends  []int64 // window ends, Unix ms
	// vals[host][series][stat] are the values, one per window in ends.
	vals    [][][len(statNames)][]float64
	samples int // written by writeOpenMetrics
}

func newPromSample(hosts []*simHost, defs []seriesDef) *promSample {
	p := &promSample{hosts: hosts, defs: defs}
	for range hosts {
		p.decs = append(p.decs, codec.NewDecoder())
		p.vals = append(p.vals, make([][len(statNames)][]float64, len(defs)))
	}
	return p
}

// add decodes host i's frames (every frame, in order, so the decoder
// follows the deltas) and keeps their values when keep is set.
func (p *promSample) add(i int, frames [][]byte, keep bool) error {
	for _, f := range frames {
		b, err := p.decs[i].Decode(f)
		if err != nil {
			return fmt.Errorf("decode %s frame: %w", p.hosts[i].host, err)
		}
		if !keep {
			continue
		}
		if i == 0 {
			p.ends = append(p.ends, b.Start+b.Width)
		}
		for _, r := range b.Rollups {
			v := &p.vals[i][r.ID]
			q := func(k int) float64 {
				if k < len(r.Quantiles) {
					return r.Quantiles[k]
				}
				return r.Last
			}
			for k, x := range [...]float64{float64(r.Count), r.Sum, r.Min, r.Max, r.First, r.Last, q(0), q(1), q(2)} {
				v[k] = append(v[k], x)
			}
		}
	}
	return nil
}

// windows is the number of series-windows kept.
func (p *promSample) windows() int { return len(p.hosts) * len(p.defs) * len(p.ends) }

// writeOpenMetrics writes the kept windows, one metric family
// (<name>_<stat>) after another, each series' samples in time order.
func (p *promSample) writeOpenMetrics(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	byName := make(map[string][]int)
	for j, d := range p.defs {
		byName[d.name] = append(byName[d.name], j)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf []byte
	for _, name := range names {
		for k, stat := range statNames {
			fmt.Fprintf(w, "# TYPE %s_%s gauge\n", name, stat)
			for i, h := range p.hosts {
				for _, j := range byName[name] {
					labels := append([]string{"instance", h.host, "site", h.site}, p.defs[j].labels...)
					prefix := name + "_" + stat + "{" + promLabels(labels) + "} "
					for t, v := range p.vals[i][j][k] {
						if math.IsNaN(v) {
							continue // not sent (first, unless the agents' wire.first is on)
						}
						p.samples++
						buf = append(buf[:0], prefix...)
						buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
						buf = append(buf, ' ')
						buf = strconv.AppendInt(buf, p.ends[t]/1000, 10)
						buf = append(buf, '\n')
						w.Write(buf)
					}
				}
			}
		}
	}
	w.WriteString("# EOF\n")
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func promLabels(kv []string) string {
	type pair struct{ k, v string }
	var ps []pair
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, pair{kv[i], kv[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	var sb strings.Builder
	for i, p := range ps {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", p.k, p.v)
	}
	return sb.String()
}

// measure writes the OpenMetrics file, runs promtool tsdb
// create-blocks-from openmetrics and returns the blocks' bytes per
// series-window (chunks, index, meta.json, tombstones; no WAL).
func (p *promSample) measure(promtool, dir string) (float64, error) {
	om := filepath.Join(dir, "capacity.om")
	out := filepath.Join(dir, "prom-tsdb")
	t0 := time.Now()
	if err := p.writeOpenMetrics(om); err != nil {
		return 0, err
	}
	defer os.Remove(om)
	st, err := os.Stat(om)
	if err != nil {
		return 0, err
	}
	if b, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", om, out).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w: %s", err, b)
	}
	var bytes int64
	blocks := 0
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "wal" {
			return filepath.SkipDir
		}
		if d.Name() == "meta.json" {
			blocks++
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := p.windows()
	samples := p.samples
	progress("prometheus TSDB: %d hosts' %d retained series-windows as %d samples (OpenMetrics %.0f MB) → %d blocks, %.1f MB: %.2f B per window, %.2f B per sample (%.0f s)",
		len(p.hosts), n, samples, float64(st.Size())/1e6, blocks, float64(bytes)/1e6, float64(bytes)/float64(n), float64(bytes)/float64(samples), time.Since(t0).Seconds())
	return float64(bytes) / float64(n), nil
}

// countSeries is the number of series in a query_range answer.
func countSeries(body []byte) int {
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &r) != nil {
		return -1
	}
	return len(r.Data.Result)
}
