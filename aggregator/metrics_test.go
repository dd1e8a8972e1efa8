package aggregator

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// scrape GETs /metrics and parses it with the Prometheus text parser, so
// a malformed line, a duplicate family or a wrong type fails here.
func scrape(t *testing.T, a *Aggregator) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the one sample of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, error) {
	f := fams[name]
	if f == nil {
		return 0, fmt.Errorf("no family %s", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), nil
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), nil
		}
		return 0, fmt.Errorf("%s is a %v", name, f.GetType())
	}
	return 0, fmt.Errorf("%s has no series with %v", name, want)
}

// TestMetricsExposition parses /metrics after one batch: the aggregator's
// own families with their types and labels, the PromQL engine's metrics
// (registered into the same registry) and the Go runtime's. With Redis
// stopped the page still parses and the backhaul gauges it could not read
// are counted as a metrics error instead of vanishing silently.
func TestMetricsExposition(t *testing.T) {
	a, r, ctx := startAggregatorWith(t, func(*Config) {})
	_, js := connect(t, a)
	if _, err := js.Publish(ctx, "tele.s1.h1", testBatch(1), jetstream.WithMsgID("s1/h1/1")); err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitFor(ctx, 30*time.Second, func() error {
		if st := a.Stats(); st.Applied != 1 {
			return fmt.Errorf("applied %d", st.Applied)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// One query, so the engine's duration summary has a sample.
	if resp, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/query?query=1"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	fams := scrape(t, a)
	types := map[string]dto.MetricType{
		"edgepulse_aggregator_batches_applied_total":          dto.MetricType_COUNTER,
		"edgepulse_aggregator_batches_rejected_total":         dto.MetricType_COUNTER,
		"edgepulse_aggregator_store_write_errors_total":       dto.MetricType_COUNTER,
		"edgepulse_aggregator_ready":                          dto.MetricType_GAUGE,
		"edgepulse_aggregator_partitions_owned":               dto.MetricType_GAUGE,
		"edgepulse_aggregator_backhaul_bytes_per_host_minute": dto.MetricType_GAUGE,
		"edgepulse_query_overloaded_total":                    dto.MetricType_COUNTER,
		"prometheus_engine_query_duration_seconds":            dto.MetricType_SUMMARY,
		"go_goroutines": dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("family %s: %v, want a %v", name, f, typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edgepulse_aggregator_batches_applied_total", nil, 1},
		{"edgepulse_aggregator_batches_rejected_total", map[string]string{"reason": ReasonLabel}, 0},
		{"edgepulse_aggregator_ready", nil, 1},
		// The test batch's window is hours old, so the meter's last minutes
		// hold the site with no hosts: present, value not checked.
		{"edgepulse_aggregator_backhaul_hosts", map[string]string{"site": "s1"}, -1},
		{"edgepulse_aggregator_metrics_errors_total", nil, 0},
	} {
		v, err := value(fams, c.name, c.labels)
		switch {
		case err != nil:
			t.Error(err)
		case c.want >= 0 && v != c.want:
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := len(fams["edgepulse_aggregator_batches_rejected_total"].GetMetric()); n != 6 {
		t.Errorf("batches_rejected_total has %d reasons, want 6", n)
	}

	r.Stop()
	fams = scrape(t, a)
	if v, err := value(fams, "edgepulse_aggregator_metrics_errors_total", nil); err != nil || v < 1 {
		t.Errorf("with Redis down: metrics_errors_total = %v (%v), want ≥ 1", v, err)
	}
	if f := fams["edgepulse_aggregator_backhaul_hosts"]; f != nil {
		t.Errorf("with Redis down the backhaul gauges were served: %v", f)
	}
	if _, err := value(fams, "edgepulse_aggregator_batches_applied_total", nil); err != nil {
		t.Errorf("with Redis down: %v", err)
	}
}
