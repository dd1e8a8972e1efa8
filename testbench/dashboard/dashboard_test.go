package dashboard

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	d, err := Load("testdata/node-exporter-full.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Targets) != 276 {
		t.Errorf("%d distinct targets, want the dashboard's 276", len(d.Targets))
	}
	var names []string
	for _, v := range d.Variables {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "job,nodename,node" {
		t.Errorf("variables %v, want job, nodename, node", names)
	}
	got := Expand(`rate(x{instance="$node",job="$job",n="$nodename"}[$__rate_interval])`,
		map[string]string{"job": "node", "nodename": "h", "node": "i"}, time.Minute)
	if got != `rate(x{instance="i",job="node",n="h"}[1m])` {
		t.Errorf("Expand: %s", got)
	}
	for expr, want := range map[string]float64{`rate(a[1m])`: 0.05, `node_load1`: 0.01, `rate(a[10m])`: 0.01, `irate(a[$__rate_interval])`: 0.01} {
		if g := Tolerance(expr); g != want {
			t.Errorf("Tolerance(%s) = %v, want %v", expr, g, want)
		}
	}
}

// TestNodeExporterFull runs the check for real (about 3 minutes): the
// dashboard's variables resolve on Edgepulse, no query fails, and
// Edgepulse answers at least as many queries as Prometheus.
func TestNodeExporterFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack, Prometheus and node_exporter for about 3 minutes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	r, err := Run(ctx, Options{Dir: t.TempDir(), Warmup: 150 * time.Second, Progress: testWriter{t}})
	if errors.Is(err, ErrMissingBinary) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Log("\n" + out.String())
	if r.Errors > 0 {
		t.Errorf("%d queries failed on Edgepulse", r.Errors)
	}
	if r.WithData < r.PromWithData {
		t.Errorf("Edgepulse answers %d queries, Prometheus %d", r.WithData, r.PromWithData)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
