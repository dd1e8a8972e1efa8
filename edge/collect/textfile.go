package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TextfileCollector reads *.prom files in the Prometheus text format from
// a directory, like node_exporter's textfile collector: every sample
// (counters as counters, the rest as gauges; a summary's or histogram's
// parts as counters and gauges of their series), node_textfile_mtime_seconds{file}
// and node_textfile_scrape_error (1 when a file could not be read or
// parsed: that file's samples are left out, the others kept). With no
// directory configured it reports node_textfile_scrape_error 0 only.
// Files are read at most once every textfileEvery cycles, the samples
// repeated in between.
type TextfileCollector struct {
	dir     string
	cycle   int
	samples []textSample
	bad     float64
}

type textSample struct {
	name   string
	kind   byte // 'c' counter, 'g' gauge
	v      float64
	labels []string
}

// textfileEvery: text files are re-read every this many cycles (they are
// written by cron jobs, minutes apart).
const textfileEvery = 10

// maxTextfileSamples bounds the samples taken from the directory per read.
const maxTextfileSamples = 2000

// NewTextfileCollector reads dir/*.prom ("" for none).
func NewTextfileCollector(dir string) *TextfileCollector { return &TextfileCollector{dir: dir} }

func (c *TextfileCollector) Name() string { return "textfile" }

func (c *TextfileCollector) Collect(e *Emitter) error {
	if c.dir != "" && c.cycle%textfileEvery == 0 {
		c.read()
	}
	c.cycle++
	for _, s := range c.samples {
		if s.kind == 'c' {
			e.Counter(s.name, s.v, s.labels...)
		} else {
			e.Gauge(s.name, s.v, s.labels...)
		}
	}
	e.Gauge("node_textfile_scrape_error", c.bad)
	return nil
}

func (c *TextfileCollector) read() {
	c.samples, c.bad = c.samples[:0], 0
	paths, err := filepath.Glob(filepath.Join(c.dir, "*.prom"))
	if err != nil || len(paths) == 0 {
		if _, err := os.Stat(c.dir); err != nil {
			c.bad = 1
		}
		return
	}
	sort.Strings(paths)
	for _, p := range paths {
		s, mtime, err := parseTextfile(p)
		if err != nil || len(c.samples)+len(s) > maxTextfileSamples {
			c.bad = 1
			continue
		}
		c.samples = append(c.samples, s...)
		c.samples = append(c.samples, textSample{name: "node_textfile_mtime_seconds", kind: 'g', v: mtime, labels: []string{"file", p}})
	}
}

// parseTextfile reads one file's samples and its modification time.
func parseTextfile(path string) ([]textSample, float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	var out []textSample
	for _, name := range slices.Sorted(mapKeys(fams)) {
		mf := fams[name]
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			add := func(n string, kind byte, v float64, extra ...string) {
				out = append(out, textSample{name: n, kind: kind, v: v, labels: append(slices.Clone(labels), extra...)})
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, 'c', m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, 'g', m.GetGauge().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				add(name+"_sum", 'c', s.GetSampleSum())
				add(name+"_count", 'c', float64(s.GetSampleCount()))
				for _, q := range s.GetQuantile() {
					add(name, 'g', q.GetValue(), "quantile", fmt.Sprint(q.GetQuantile()))
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				add(name+"_sum", 'c', h.GetSampleSum())
				add(name+"_count", 'c', float64(h.GetSampleCount()))
				for _, b := range h.GetBucket() {
					add(name+"_bucket", 'c', float64(b.GetCumulativeCount()), "le", fmt.Sprint(b.GetUpperBound()))
				}
			default:
				add(name, 'g', m.GetUntyped().GetValue())
			}
		}
	}
	return out, float64(fi.ModTime().UnixNano()) / 1e9, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
