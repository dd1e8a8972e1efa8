package aggregator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

func goodBatch() *codec.Batch {
	return &codec.Batch{
		Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: 1, Start: testBase + 60_000, Width: 60_000,
		Series:  []codec.Series{{ID: 0, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "0", "mode", "user"}}},
		Rollups: []codec.Rollup{{ID: 0, Count: 60, Sum: 60, Min: 1, Max: 1, First: 1, Last: 1}},
		Events:  []codec.Event{{Kind: codec.Open, Incident: 1, Series: "node_load1", Labels: []string{"cpu", "1"}, Reason: "zscore"}},
	}
}

func TestValidateBatch(t *testing.T) {
	many := func(n int) []codec.Series {
		s := make([]codec.Series, n)
		for i := range s {
			s[i] = codec.Series{ID: uint32(i), Name: "m"}
		}
		return s
	}
	tests := []struct {
		name    string
		subject string
		edit    func(b *codec.Batch)
		reason  string // "" = accepted
	}{
		{"good", "tele.s1.h1.7", func(*codec.Batch) {}, ""},
		{"other site", "tele.s1.h1.7", func(b *codec.Batch) { b.Site = "s2" }, ReasonSiteMismatch},
		{"other host", "tele.s1.h1.7", func(b *codec.Batch) { b.Host = "h2" }, ReasonHostMismatch},
		{"subject of another site", "tele.s2.h1.7", func(*codec.Batch) {}, ReasonSiteMismatch},
		{"short subject", "tele.s1.h1", func(*codec.Batch) {}, ReasonSubject},
		{"bad subject token", "tele.s*1.h1.3", func(*codec.Batch) {}, ReasonSubject},
		{"not telemetry", "alerts.s1.h1.3", func(*codec.Batch) {}, ReasonSubject},
		{"empty agent", "tele.s1.h1.7", func(b *codec.Batch) { b.Agent = "" }, ReasonIdentity},
		{"another agent of the site", "tele.s1.h1.7", func(b *codec.Batch) { b.Agent = "s1/h2" }, ReasonIdentity},
		{"too many series", "tele.s1.h1.7", func(b *codec.Batch) { b.Series = many(11) }, ReasonTooLarge},
		{"too many label pairs", "tele.s1.h1.7", func(b *codec.Batch) {
			b.Series[0].Labels = strings.Split(strings.Repeat("a,x,", 5)+"b,y", ",")
		}, ReasonTooLarge},
		{"NUL in label value", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[1] = "0\x00evil" }, ReasonLabel},
		{"newline in label value", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[1] = "0\nx" }, ReasonLabel},
		{"invalid UTF-8 value", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[1] = "\xff" }, ReasonLabel},
		{"long label value", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[1] = strings.Repeat("v", 65) }, ReasonLabel},
		{"unicode label value", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[1] = "Zürich-αβγ" }, ""},
		{"bad label name", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels[0] = "c:pu" }, ReasonLabel},
		{"odd labels", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Labels = []string{"cpu"} }, ReasonLabel},
		{"bad metric name", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Name = "cpu seconds" }, ReasonLabel},
		{"key-like metric name", "tele.s1.h1.7", func(b *codec.Batch) { b.Series[0].Name = "ep:d:*" }, ReasonLabel},
		{"bad event signal", "tele.s1.h1.7", func(b *codec.Batch) { b.Events[0].Series = "" }, ReasonLabel},
		{"bad event label", "tele.s1.h1.7", func(b *codec.Batch) { b.Events[0].Labels[1] = "\x01" }, ReasonLabel},
		{"too many events", "tele.s1.h1.7", func(b *codec.Batch) { b.Events = make([]codec.Event, 3) }, ReasonTooLarge},
	}
	lim := BatchLimits{MaxSeries: 10, MaxLabels: 5, MaxLabelValueLen: 64, MaxEvents: 2}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := goodBatch()
			tt.edit(b)
			err := validateBatch(tt.subject, b, lim)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("validateBatch: %v, want accepted", err)
				}
				return
			}
			var re *RejectError
			if !errors.As(err, &re) || !errors.Is(err, ErrRejected) {
				t.Fatalf("validateBatch = %v, want a *RejectError wrapping ErrRejected", err)
			}
			if re.Reason != tt.reason {
				t.Fatalf("reason %q (%v), want %q", re.Reason, err, tt.reason)
			}
		})
	}
}

func TestBatchLimitsValidate(t *testing.T) {
	tests := []struct {
		lim  BatchLimits
		want string // substring of the error, "" = valid
	}{
		{BatchLimits{}, ""},
		{DefaultBatchLimits(), ""},
		{BatchLimits{MaxSeries: -1}, "batches.max_series"},
		{BatchLimits{MaxLabelValueLen: 5000}, "batches.max_label_value_len"},
		{BatchLimits{MaxSeriesPerHost: -3}, "batches.max_series_per_host"},
	}
	for _, tt := range tests {
		err := tt.lim.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.lim, err, tt.want)
		}
	}
}

// TestCardinalityCaps: a host over its cap keeps its known series and
// loses the new ones; a site over its cap stops every host of it.
func TestCardinalityCaps(t *testing.T) {
	c := newCardinality()
	lim := BatchLimits{MaxSeriesPerHost: 3, MaxSeriesPerSite: 5}
	batch := func(host string, names ...string) *codec.Batch {
		b := &codec.Batch{Site: "s1", Host: host}
		for i, n := range names {
			b.Series = append(b.Series, codec.Series{ID: uint32(i), Name: n})
			b.Rollups = append(b.Rollups, codec.Rollup{ID: uint32(i)})
		}
		return b
	}
	steps := []struct {
		b       *codec.Batch
		dropped int
		kept    []string
	}{
		{batch("h1", "a", "b"), 0, []string{"a", "b"}},
		{batch("h1", "a", "c", "d", "e"), 2, []string{"a", "c"}},
		{batch("h1", "b", "d"), 1, []string{"b"}},
		{batch("h2", "a", "b", "c"), 1, []string{"a", "b"}}, // site: 3 + 2 = 5
		{batch("h3", "x"), 1, nil},
	}
	for i, s := range steps {
		if got := c.admit(s.b, lim); got != s.dropped {
			t.Fatalf("step %d: dropped %d, want %d", i, got, s.dropped)
		}
		var kept []string
		for _, ser := range s.b.Series {
			kept = append(kept, ser.Name)
		}
		if fmt.Sprint(kept) != fmt.Sprint(s.kept) || len(s.b.Rollups) != len(s.b.Series) {
			t.Fatalf("step %d: kept %v (%d rollups), want %v", i, kept, len(s.b.Rollups), s.kept)
		}
	}
	if h, st := c.dHost.Load(), c.dSite.Load(); h != 3 || st != 2 {
		t.Fatalf("dropped host=%d site=%d, want 3 and 2", h, st)
	}
}

// TestRogueBatchesRejected publishes batches that decode but lie about
// their origin or carry unsafe labels, between good ones: the rogues are
// counted by reason and terminated, nothing of theirs reaches Redis, the
// good ones are applied and the work queue ends empty.
func TestRogueBatchesRejected(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	pub := func(b *codec.Batch) {
		if _, err := js.Publish(ctx, "tele.s1.h1", keyframe(b)); err != nil {
			t.Fatal(err)
		}
	}
	good := goodBatch()
	pub(good)
	rogue := goodBatch()
	rogue.Site, rogue.Agent, rogue.Seq = "s2", "s2/h1", 2
	pub(rogue)
	rogue = goodBatch()
	rogue.Host, rogue.Agent, rogue.Seq = "h9", "s1/h9", 3
	pub(rogue)
	rogue = goodBatch()
	rogue.Series[0].Labels[1], rogue.Seq = "0\x00x", 4
	pub(rogue)
	good.Seq, good.Start = 5, good.Start+60_000
	pub(good)
	err := harness.WaitFor(ctx, 20*time.Second, func() error {
		st := a.Stats()
		if st.Applied != 2 || st.Rejected[ReasonSiteMismatch] != 1 || st.Rejected[ReasonHostMismatch] != 1 || st.Rejected[ReasonLabel] != 1 {
			return fmt.Errorf("stats applied=%d rejected=%v", st.Applied, st.Rejected)
		}
		info, err := js.Stream(ctx, StreamName)
		if err != nil {
			return err
		}
		if n := info.CachedInfo().State.Msgs; n != 0 {
			return fmt.Errorf("%d messages left in the stream", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sites, err := a.Store().Client().SMembers(ctx, "ep:lv:site").Result()
	if err != nil || len(sites) != 1 || sites[0] != "s1" {
		t.Fatalf("stored sites %v (%v), want [s1]", sites, err)
	}
	hosts, _ := a.Store().Client().SMembers(ctx, "ep:lv:instance").Result()
	if len(hosts) != 1 || hosts[0] != "h1" {
		t.Fatalf("stored hosts %v, want [h1]", hosts)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `edgepulse_aggregator_batches_rejected_total{reason="site_mismatch"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %q:\n%s", want, body)
	}
}

// FuzzValidateBatch decodes arbitrary bytes as a keyframe and validates
// what decodes against an arbitrary subject: no panic, and whatever passes
// claims the subject's site and host and holds only safe label values.
func FuzzValidateBatch(f *testing.F) {
	p := keyframe(goodBatch())
	f.Add("tele.s1.h1.3", p)
	f.Add("tele.s2.h1.3", p)
	f.Add("tele..h1.3", p[:20])
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		b, err := codec.NewDecoder().Decode(data)
		if err != nil {
			return
		}
		lim := BatchLimits{MaxLabelValueLen: 64}
		if err := validateBatch(subject, b, lim); err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v does not wrap ErrRejected", err)
			}
			return
		}
		site, host, err := SubjectIdentity(subject)
		if err != nil || b.Site != site || b.Host != host {
			t.Fatalf("accepted batch %s/%s on %q (%v)", b.Site, b.Host, subject, err)
		}
		for _, s := range b.Series {
			for _, l := range s.Labels {
				if strings.ContainsAny(l, "\x00\n") || len(l) > 128 && len(l) > lim.MaxLabelValueLen {
					t.Fatalf("accepted unsafe label %q", l)
				}
			}
		}
		c := newCardinality()
		c.admit(b, BatchLimits{MaxSeriesPerHost: 2, MaxSeriesPerSite: 3})
		if len(b.Series) > 3 {
			t.Fatalf("%d series kept over a cap of 2", len(b.Series))
		}
	})
}
