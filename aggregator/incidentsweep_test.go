package aggregator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// TestIncidentExpirySweep: an incident open for longer than
// redis.incident_open_max_age leaves the query API's alerts and the
// console's open list after the member's sweep, shows in the console's
// recent list as closed and why, is republished closed on alerts.> and
// is counted on /metrics.
func TestIncidentExpirySweep(t *testing.T) {
	a, _, ctx := startAggregatorWith(t, func(c *Config) { c.Redis.IncidentOpenMaxAge = 24 * time.Hour })
	now := time.Now()
	old := store.Incident{Site: "s1", Host: "h1", Agent: "s1/h1", State: "open", Incident: 7, Series: "cpu_busy_percent",
		Time: now.Add(-25 * time.Hour).UnixMilli(), Score: 0.9, Value: 99, Reason: "ewma"}
	young := old
	young.Incident, young.Time = 8, now.Add(-time.Hour).UnixMilli()
	// Subscribed before the incidents exist: the member's own loop may
	// expire them before the sweep below does.
	nc, _ := connect(t, a)
	sub, err := nc.SubscribeSync("alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	w := a.Store().NewWrite()
	if err := w.AddIncidents(ctx, []store.Incident{old, young}); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	type list struct {
		Data struct {
			Open   []store.Incident `json:"open"`
			Recent []store.Incident `json:"recent"`
			Alerts []map[string]any `json:"alerts"`
		}
	}
	read := func(path string) list {
		code, body := get(t, a, path)
		var l list
		if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil {
			t.Fatalf("%s: %d %v\n%s", path, code, err, body)
		}
		return l
	}
	a.health.sweepIncidents(ctx) // whichever run expires it, once
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got store.Incident
	if err := json.Unmarshal(m.Data, &got); err != nil || m.Subject != "alerts.s1.h1" || got.State != "closed" || got.Expired != "age" || got.Incident != 7 {
		t.Fatalf("alert on %s: %s (%v), want incident 7's close as expired", m.Subject, m.Data, err)
	}
	l := read("/ui/api/incidents?hours=48")
	if len(l.Data.Open) != 1 || l.Data.Open[0].Incident != 8 {
		t.Fatalf("open after the sweep: %+v, want incident 8 only", l.Data.Open)
	}
	if len(l.Data.Recent) == 0 || l.Data.Recent[0].Incident != 7 || l.Data.Recent[0].State != "closed" || l.Data.Recent[0].Expired != "age" || l.Data.Recent[0].Reason == "" {
		t.Fatalf("newest event %+v, want incident 7 closed as expired by age, with a reason", l.Data.Recent)
	}
	if al := read("/api/v1/alerts").Data.Alerts; len(al) != 1 {
		t.Fatalf("alerts %v, want incident 8 only", al)
	}
	_, page := get(t, a, "/metrics")
	for series, want := range map[string]float64{
		`edgepulse_store_incidents_expired_total{reason="age"}`: 1,
		`edgepulse_store_incidents_expired_total{reason="cap"}`: 0,
		"edgepulse_store_incidents_open":                        1,
		"edgepulse_store_incident_expiry_errors_total":          0,
		"edgepulse_store_incident_late_events_total":            0,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", series, v, ok, want)
		}
	}
}
