package aggregator

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

func TestSkewOf(t *testing.T) {
	c := ClockConfig{}.withDefaults()
	now := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		end  time.Duration // from now
		want string
	}{
		{0, ""}, {-2 * time.Second, ""}, {5 * time.Minute, ""}, {5*time.Minute + time.Second, SkewAhead}, {10 * time.Minute, SkewAhead},
		{365 * 24 * time.Hour, SkewAhead}, {-time.Hour, ""}, {-time.Hour - time.Second, SkewBehind}, {-20 * 24 * time.Hour, SkewBehind},
	} {
		if got, _ := c.skewOf(now.Add(tt.end), now); got != tt.want {
			t.Errorf("window end now%+v: %q, want %q", tt.end, got, tt.want)
		}
	}
	for _, bad := range []ClockConfig{{MaxAhead: time.Millisecond}, {MaxAhead: 48 * time.Hour}, {MaxBehind: time.Second}} {
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "clock.max_") {
			t.Errorf("Validate(%+v) = %v, want an error naming the field", bad, err)
		}
	}
}

// TestClockSkewCounted: windows stamped +10 min, +1 year and −20 days
// from the hub's clock are counted by reason on /statz and /metrics; a
// window stamped now is not.
func TestClockSkewCounted(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	now := time.Now()
	for i, off := range []time.Duration{10 * time.Minute, 365 * 24 * time.Hour, -20 * 24 * time.Hour, -30 * time.Second} {
		b := testBatchOf(uint64(i + 1))
		b.Start = now.Add(off).UnixMilli()/60_000*60_000 - 60_000
		if _, err := js.Publish(ctx, "tele.s1.h1", keyframe(b), jetstream.WithMsgID(fmt.Sprint("s1/h1/", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := harness.WaitFor(ctx, 20*time.Second, func() error {
		if st := a.Stats(); st.Skewed[SkewAhead] != 2 || st.Skewed[SkewBehind] != 1 {
			return fmt.Errorf("stats %+v, want 2 ahead and 1 behind", st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`edgepulse_aggregator_windows_skewed_total{reason="ahead"} 2`, `edgepulse_aggregator_windows_skewed_total{reason="behind"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
