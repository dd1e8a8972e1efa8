package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// webhook is Alertmanager's webhook receiver: it records every alert's
// latest status by alertname.
type webhook struct {
	mu     sync.Mutex
	status map[string]string
	labels map[string]map[string]string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []struct {
			Status string            `json:"status"`
			Labels map[string]string `json:"labels"`
		} `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range msg.Alerts {
		w.status[a.Labels["alertname"]] = a.Status
		w.labels[a.Labels["alertname"]] = a.Labels
	}
}

func (w *webhook) get(name string) (string, map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status[name], w.labels[name]
}

// TestAlertmanager: a rule alert (node_load1 above 2) and an agent's
// incident both reach a real prometheus-alertmanager and its webhook
// receiver, and both arrive resolved once the load falls and the incident
// closes.
func TestAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis and Alertmanager")
	}
	amBin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Skip("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	rd, err := harness.StartRedis(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Stop)
	st, err := store.Open(ctx, store.Options{Addr: rd.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	hook := &webhook{status: map[string]string{}, labels: map[string]map[string]string{}}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	amPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	amCfg := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, amCfg, fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: %q, send_resolved: true}]
`, srv.URL))
	am, err := harness.Start("alertmanager", dir, nil, amBin, "--config.file="+amCfg,
		"--storage.path="+filepath.Join(dir, "am"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort),
		"--cluster.listen-address=")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(am.Stop)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	if err := harness.WaitHTTP(ctx, amURL+"/-/ready", time.Minute); err != nil {
		t.Fatalf("alertmanager: %v\n%s", err, am.Tail(3000))
	}

	rules := filepath.Join(dir, "rules.yml")
	writeFile(t, rules, `groups:
  - name: test
    interval: 1s
    rules:
      - alert: HighLoad
        expr: node_load1 > 2
        labels: {severity: page}
        annotations: {summary: "load {{ $value }}"}
`)
	// A window of high load ending a second ago, and an open incident.
	now := time.Now().UnixMilli() / 1000 * 1000
	apply := func(seq uint64, load float64, ev codec.EventKind) {
		// 1 s windows that ended before now: seq 1 at now−2s, seq 2 at now−1s.
		b := &codec.Batch{Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: seq,
			Start: now - 4000 + int64(seq)*1000, Width: 1000,
			Series:  []codec.Series{{ID: 1, Name: "node_load1", Labels: []string{"job", "node"}}},
			Rollups: []codec.Rollup{{ID: 1, Count: 1, Sum: load, Min: load, Max: load, First: load, Last: load}},
			Events: []codec.Event{{Kind: ev, Incident: uint64(now), Series: "cpu_busy_percent", Labels: []string{"job", "node"},
				TS: time.Now().UnixMilli(), Score: 0.97, Value: 99.5, Reason: "spot"}},
		}
		// As the aggregator writes a frame: its rollups, then its incidents.
		w := st.NewWrite()
		if err := w.Add(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := w.AddIncidents(ctx, []store.Incident{store.IncidentOf(b, &b.Events[0])}); err != nil {
			t.Fatal(err)
		}
		w.MarkApplied(ctx, b.Agent, b.Seq)
		if err := w.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	apply(1, 5, codec.Open)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	qa := &query.Queryable{Store: st}
	api := query.NewAPI(qa, query.Limits{}, log)
	svc, err := New(Config{RuleFiles: []string{rules}, EvaluationInterval: time.Second, Alertmanagers: []string{amURL},
		IncidentInterval: time.Second}, qa, api.Engine(), st, "127.0.0.1:9470", log)
	if err != nil {
		t.Fatal(err)
	}
	api.SetRules(svc)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()

	wait := func(name, status string) map[string]string {
		t.Helper()
		var ls map[string]string
		err := harness.WaitFor(ctx, 90*time.Second, func() error {
			var s string
			if s, ls = hook.get(name); s != status {
				return fmt.Errorf("%s is %q at the webhook, want %q", name, s, status)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v\nalertmanager log:\n%s", err, am.Tail(3000))
		}
		return ls
	}
	ls := wait("HighLoad", "firing")
	if ls["severity"] != "page" || ls["instance"] != "h1" || ls["job"] != "node" || ls["site"] != "s1" {
		t.Errorf("rule alert labels %v", ls)
	}
	ls = wait("cpu_busy_percent", "firing")
	if ls["severity"] != "warning" || ls["instance"] != "h1" || ls["job"] != "node" || ls["site"] != "s1" {
		t.Errorf("incident alert labels %v", ls)
	}
	// /api/v1/rules and /api/v1/alerts answer in Prometheus' shape.
	for _, path := range []string{"/api/v1/rules", "/api/v1/alerts"} {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var resp struct {
			Status string `json:"status"`
			Data   struct {
				Groups []struct {
					Rules []struct {
						Name, State, Type string
					}
				}
				Alerts []struct {
					Labels map[string]string
					State  string
				}
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Status != "success" {
			t.Fatalf("%s: %v %s", path, err, rec.Body)
		}
		if path == "/api/v1/rules" && (len(resp.Data.Groups) != 1 || resp.Data.Groups[0].Rules[0].State != "firing") {
			t.Errorf("%s: %s", path, rec.Body)
		}
		if path == "/api/v1/alerts" && len(resp.Data.Alerts) != 2 {
			t.Errorf("%s: want the rule alert and the incident: %s", path, rec.Body)
		}
	}

	// The load falls and the incident closes: both resolve.
	apply(2, 0.5, codec.Close)
	wait("HighLoad", "resolved")
	wait("cpu_busy_percent", "resolved")
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
