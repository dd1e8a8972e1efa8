package backhaul

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// TestBaselines scrapes one synthetic host at a moment when all three
// baselines send, checks that each sink got one request whose wire bytes
// exceed its body, that the remote write body decodes to one sample per
// series with node_exporter's labels, and that the line protocol body
// carries every series once.
func TestBaselines(t *testing.T) {
	tmpl, err := LoadTemplates("/proc", "../../edge/collect/testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1_800_000_030, 0) // a multiple of 10 s and of 15 s
	h, err := NewHost(filepath.Join(t.TempDir(), "h"), 3, 7, time.Hour, tmpl, ts.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBaselines([]*host{{site: "s1", name: "h02", procRoot: h.Proc, synth: h}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.measure(ts, ts.Add(time.Second))
	s := b.hosts[0]
	if err := b.scrape(context.Background(), s, ts); err != nil {
		t.Fatal(err)
	}
	n := int(s.series.Load())
	if n < 400 {
		t.Fatalf("%d series scraped, want ≥ 400", n)
	}
	// The proxy counts a response's bytes after it wrote them to the
	// client, which may have returned already: wait for them.
	deadline := time.Now().Add(10 * time.Second)
	for p := proto(0); p < nProtos && time.Now().Before(deadline); {
		if _, down, _, _ := b.wire(p); down == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p++
	}
	for p := range nProtos {
		up, down, body, reqs := b.wire(p)
		if reqs != 1 || body == 0 || up <= body || down == 0 {
			t.Errorf("%s: up %d down %d body %d requests %d, want one request whose wire bytes exceed its body", protoNames[p], up, down, body, reqs)
		}
	}

	// The same scrape, encoded again for inspection.
	pw, err := s.remoteWrite(ts.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := snappy.Decode(nil, pw)
	if err != nil {
		t.Fatal(err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if len(req.Timeseries) != n {
		t.Fatalf("remote write carries %d series, scraped %d", len(req.Timeseries), n)
	}
	for _, s := range req.Timeseries {
		l := map[string]string{}
		for _, x := range s.Labels {
			l[x.Name] = x.Value
		}
		if l["job"] != "node" || l["instance"] != "s1-h02:9100" || !strings.HasPrefix(l["__name__"], "node_") ||
			len(s.Samples) != 1 || s.Samples[0].Timestamp != ts.UnixMilli() {
			t.Fatalf("series %v samples %v", s.Labels, s.Samples)
		}
	}

	lp, err := s.lineProtocol(ts)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(lp))
	if err != nil {
		t.Fatal(err)
	}
	fields, lines := 0, 0
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), " ")
		if len(parts) != 3 || !strings.Contains(parts[0], "host=s1-h02") || parts[2] != "1800000030000000000" {
			t.Fatalf("line %q", sc.Text())
		}
		fields += strings.Count(parts[1], ",") + 1
		lines++
	}
	if fields != n {
		t.Errorf("line protocol carries %d fields in %d lines, scraped %d series", fields, lines, n)
	}
}
