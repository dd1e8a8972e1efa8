package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// runAgent starts an agent on cfg and stops it at the end of the test.
func runAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return a
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connect(t *testing.T, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestServiceEndpoints(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	cfg := fixtureConfig(t, strings.Replace(ns.ClientURL(), "nats://", "nats://ops:hunter2@", 1))
	cfg.Version = "v1.2.3"
	a := runAgent(t, cfg)
	nc := connect(t, ns)
	req := func(ep, body string) *nats.Msg {
		t.Helper()
		m, err := nc.Request(codec.AgentSubject("s1", "h1", ep), []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("request %s: %v", ep, err)
		}
		return m
	}
	waitUntil(t, "3 cycles", 20*time.Second, func() error {
		if c := a.Stats().Cycles; c < 3 {
			return fmt.Errorf("%d cycles", c)
		}
		return nil
	})

	t.Run("discovery", func(t *testing.T) {
		m, err := nc.Request("$SRV.INFO."+ServiceName, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Name      string            `json:"name"`
			Version   string            `json:"version"`
			Metadata  map[string]string `json:"metadata"`
			Endpoints []struct {
				Name    string `json:"name"`
				Subject string `json:"subject"`
			} `json:"endpoints"`
		}
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		if info.Name != ServiceName || info.Version != "1.2.3" || info.Metadata["site"] != "s1" || info.Metadata["host"] != "h1" || info.Metadata["version"] != "v1.2.3" {
			t.Fatalf("service info %+v", info)
		}
		var subjects []string
		for _, e := range info.Endpoints {
			subjects = append(subjects, e.Subject)
		}
		want := "ep.agent.s1.h1.status ep.agent.s1.h1.config ep.agent.s1.h1.history ep.agent.s1.h1.live ep.agent.s1.h1.keyframe"
		if got := strings.Join(subjects, " "); got != want {
			t.Fatalf("endpoint subjects %q, want %q", got, want)
		}
	})

	t.Run("keyframe", func(t *testing.T) {
		if got := string(req("keyframe", "").Data); !strings.Contains(got, "keyframe") {
			t.Fatalf("keyframe: %s", got)
		}
	})

	t.Run("status", func(t *testing.T) {
		var st Status
		if err := json.Unmarshal(req("status", "").Data, &st); err != nil {
			t.Fatal(err)
		}
		if st.Agent != "s1/h1" || st.Version != "v1.2.3" || !st.Connected || st.Series == 0 || st.Stats.Cycles < 3 || st.History == nil || !st.Detection {
			t.Fatalf("status %+v", st)
		}
		if strings.Contains(st.Server, "hunter2") {
			t.Fatalf("status shows the password: %q", st.Server)
		}
	})

	t.Run("config", func(t *testing.T) {
		m := req("config", "")
		if strings.Contains(string(m.Data), "hunter2") {
			t.Fatalf("config shows the password: %s", m.Data)
		}
		var c map[string]any
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		if c["site"] != "s1" || c["host"] != "h1" || !strings.Contains(c["nats_url"].(string), "REDACTED@") {
			t.Fatalf("config %s", m.Data)
		}
		// The detection settings in force, defaults filled in: the
		// default rules and non-zero detector parameters, not "rules: []"
		// and zeros.
		body := string(m.Data)
		for _, want := range []string{`"name":"cpu_busy"`, `"name":"filesystem_full"`} {
			if !strings.Contains(body, want) {
				t.Errorf("effective config lacks %s: %s", want, body)
			}
		}
		det := c["detect"].(map[string]any)["detectors"].(map[string]any)
		if ewma, _ := det["ewma"].(map[string]any); len(ewma) == 0 || fmt.Sprint(ewma) == fmt.Sprint(zeroed(ewma)) {
			t.Errorf("effective config's ewma settings are zero: %v", ewma)
		}
		// Nor zeros that stand for other defaults.
		for section, keys := range map[string][]string{"clock": {"check_every", "max_offset", "correct"},
			"history": {"retention", "max_bytes", "max_points", "enabled"}, "remote_config": {"bucket", "enabled"}} {
			sec, _ := c[section].(map[string]any)
			for _, k := range keys {
				if v := sec[k]; v == nil || v == "0s" || v == float64(0) || v == "" {
					t.Errorf("effective config's %s.%s is %v, not the default in force", section, k, v)
				}
			}
		}
		for _, k := range []string{"disk_reserve", "heap_headroom"} {
			if c[k] == float64(0) {
				t.Errorf("effective config's %s is 0, not the default in force", k)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		m := req("history", `{"name":"node_load1"}`)
		var resp codec.HistoryResponse
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			t.Fatalf("%v: %s", err, m.Data)
		}
		if len(resp.Series) != 1 || len(resp.Series[0].Points) < 3 || resp.Series[0].Points[0].Value != 1.25 {
			t.Fatalf("history %s", m.Data)
		}
		m = req("history", `{"name":"node_cpu_seconds_total","matchers":{"mode":"idle"},"limit":2}`)
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			t.Fatalf("%v: %s", err, m.Data)
		}
		if !resp.Truncated || len(resp.Series) == 0 {
			t.Fatalf("limited history %s", m.Data)
		}
		for _, s := range resp.Series {
			if s.Labels["mode"] != "idle" {
				t.Fatalf("matcher mode=idle returned %v", s.Labels)
			}
		}
	})

	for _, c := range []struct{ name, body, code, msg string }{
		{"bad json", `{"name":`, "400", "bad history request"},
		{"unknown field", `{"series":"node_load1"}`, "400", "unknown field"},
		{"no name", `{}`, "400", "name must be set"},
		{"unknown series", `{"name":"node_nope"}`, "404", "no such series"},
		{"body too large", `{"name":"node_load1","matchers":{"x":"` + strings.Repeat("y", MaxHistoryRequest) + `"}}`, "413", "exceeds"},
	} {
		t.Run("history error "+c.name, func(t *testing.T) {
			m := req("history", c.body)
			if got := m.Header.Get("Nats-Service-Error-Code"); got != c.code {
				t.Fatalf("code %q (%s), want %s", got, m.Header.Get("Nats-Service-Error"), c.code)
			}
			if e := m.Header.Get("Nats-Service-Error"); !strings.Contains(e, c.msg) {
				t.Fatalf("error %q lacks %q", e, c.msg)
			}
		})
	}
}

// serveLayers answers ep.config.get.<site>.<host> from kv the way the
// aggregators do (aggregator/configkv.go; edge must not import it).
func serveLayers(t *testing.T, nc *nats.Conn, kv jetstream.KeyValue) {
	t.Helper()
	_, err := nc.Subscribe(codec.ConfigGetPrefix+"*.*", func(m *nats.Msg) {
		tok := strings.Split(strings.TrimPrefix(m.Subject, codec.ConfigGetPrefix), ".")
		resp := codec.ConfigLayers{Bucket: DefaultConfigBucket}
		for _, k := range codec.ConfigKeys(tok[0], tok[1]) {
			if e, err := kv.Get(context.Background(), k); err == nil {
				resp.Layers = append(resp.Layers, codec.ConfigLayer{Key: k, Revision: e.Revision(), Value: string(e.Value())})
			}
		}
		b, _ := json.Marshal(resp)
		m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestConfigPush drives the pushed configuration through a real KV bucket:
// a rule pushed for the host opens an incident, an invalid change is
// refused with an error on config.error while the last good config stays,
// a site-wide layer below the host's is merged, and a restart without the
// server starts from the persisted last good override.
func TestConfigPush(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	nc := connect(t, ns)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultConfigBucket, History: 5,
		RePublish: &jetstream.RePublish{Source: "$KV.EP_CONFIG.>", Destination: codec.ConfigNotifyPrefix + ">", HeadersOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	serveLayers(t, nc, kv)
	cfg := fixtureConfig(t, ns.ClientURL())
	cfg.History.Enabled = new(bool)
	a := runAgent(t, cfg)
	errs, err := nc.SubscribeSync(codec.AgentSubject("s1", "h1", codec.EndpointConfigError))
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	// The fixture has less than 100 % of its memory available: a rule for
	// that fires at once (nothing fires on the defaults).
	const ruleTmpl = `
detect:
  ENABLED
  context: 1
  incident: {open_after: 1}
  detectors:
    rules:
      - {name: mem_used, series: memory_available_percent, op: "<", threshold: 100}
`
	rule := strings.Replace(ruleTmpl, "  ENABLED\n", "", 1)
	if _, err := kv.PutString(ctx, "s1.h1", rule); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the pushed rule to open an incident", 20*time.Second, func() error {
		if n := a.Stats().Incidents; n < 1 {
			return fmt.Errorf("%d incidents; config %+v", n, a.od.remote.status())
		}
		return nil
	})
	if st := a.od.remote.status(); st.Applies != 1 || len(st.Applied) != 1 || st.Applied[0].Key != "s1.h1" {
		t.Fatalf("config status %+v", st)
	}

	// An invalid change: refused, published, counted; the rule stays.
	if _, err := kv.PutString(ctx, "s1.h1", "detect:\n  detectors:\n    rules:\n      - {name: bad, series: node_load1, op: \"~\", threshold: 1}\n"); err != nil {
		t.Fatal(err)
	}
	m, err := errs.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no config.error published: %v (status %+v)", err, a.od.remote.status())
	}
	var ce codec.ConfigError
	if err := json.Unmarshal(m.Data, &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Agent != "s1/h1" || ce.Key != "s1.h1" || ce.Revision != 2 || !strings.Contains(ce.Error, "op") {
		t.Fatalf("config error %+v", ce)
	}
	st := a.Status()
	if st.Config.Rejected != 1 || !strings.Contains(st.Config.LastError, `"~"`) || !st.Detection {
		t.Fatalf("status after the bad change: %+v", st.Config)
	}
	if r := a.od.remote.effectiveDetect().Detectors.Rules; len(r) != 1 || r[0].Name != "mem_used" {
		t.Fatalf("effective rules after the bad change: %+v", r)
	}

	// Unknown fields are refused too (a typo must not silently do nothing).
	if _, err := kv.PutString(ctx, "s1._site", "detect: {enabeld: false}\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := errs.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no config.error for an unknown field: %v", err)
	}
	// A valid site layer below the host's: detection off for the site.
	// (It replaces the bad site value; the bad host value is fixed too.)
	if _, err := kv.PutString(ctx, "s1.h1", rule); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "s1._site", "detect: {enabled: false}\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the site layer to disable detection", 10*time.Second, func() error {
		if a.Status().Detection {
			return fmt.Errorf("detection still on; config %+v", a.od.remote.status())
		}
		return nil
	})
	// The host layer re-enables it above the site's.
	if _, err := kv.PutString(ctx, "s1.h1", strings.Replace(ruleTmpl, "ENABLED", "enabled: true", 1)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the host layer to re-enable detection", 10*time.Second, func() error {
		if !a.Status().Detection {
			return fmt.Errorf("detection still off; config %+v", a.od.remote.status())
		}
		return nil
	})
	applied := a.od.remote.status().Applied

	// A restart with the uplink gone starts from the persisted override.
	dead := fixtureConfig(t, "nats://127.0.0.1:1")
	dead.DataDir = cfg.DataDir + "-copy"
	copyFile(t, cfg.DataDir+"/remote-config.json", dead.DataDir+"/remote-config.json")
	b, err := New(dead, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.od.remote.status().Applied; fmt.Sprint(got) != fmt.Sprint(applied) {
		t.Fatalf("restarted offline with layers %+v, want %+v", got, applied)
	}
	if r := b.od.remote.effectiveDetect().Detectors.Rules; len(r) != 1 || r[0].Name != "mem_used" || b.det == nil {
		t.Fatalf("restarted offline with rules %+v (detector %v)", r, b.det != nil)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConfigPushLateAggregator starts the agent before anything answers
// config requests: it retries, and applies the layers once an aggregator
// is up, without a change notification.
func TestConfigPushLateAggregator(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a retry (5 s)")
	}
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	nc := connect(t, ns)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultConfigBucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "_all", "detect: {enabled: false}\n"); err != nil {
		t.Fatal(err)
	}
	cfg := fixtureConfig(t, ns.ClientURL())
	cfg.History.Enabled = new(bool)
	a := runAgent(t, cfg)
	waitUntil(t, "a failed sync", 10*time.Second, func() error {
		if st := a.od.remote.status(); st.Errors == 0 {
			return fmt.Errorf("no failed sync yet: %+v", st)
		}
		return nil
	})
	if !a.Status().Detection {
		t.Fatal("detection off before any layer was read")
	}
	serveLayers(t, nc, kv)
	waitUntil(t, "the retry to apply the layers", 15*time.Second, func() error {
		if a.Status().Detection {
			return fmt.Errorf("detection still on: %+v", a.od.remote.status())
		}
		return nil
	})
}

// zeroed is m with every number replaced by 0 (to tell defaults from zeros).
func zeroed(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch v.(type) {
		case float64, int:
			out[k] = 0.0
		default:
			out[k] = v
		}
	}
	return out
}
