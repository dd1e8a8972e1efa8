package redisha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// needRedis skips the test when the Redis binaries are missing or under
// -short.
func needRedis(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Redis topologies; skipped under -short")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found; install it with: apt-get update && apt-get install -y redis-server redis-sentinel (CI installs it)", bin)
		}
	}
}

// startAggregator runs an aggregator with its embedded hub in process,
// writing with opts, and waits until it consumes every partition.
func startAggregator(t *testing.T, ctx context.Context, opts store.Options) *aggregator.Aggregator {
	t.Helper()
	cfg := aggregator.DefaultConfig()
	cfg.Name = "redisha-0"
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
	opts.Prefix = cmpOr(opts.Prefix, cfg.Redis.Prefix)
	opts.Retention = cmpOr(opts.Retention, cfg.Redis.Retention)
	cfg.Redis = opts
	cfg.HTTP = "127.0.0.1:0"
	actx, cancel := context.WithCancel(ctx)
	a, err := aggregator.New(actx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		cancel()
		t.Fatalf("aggregator with redis %+v: %v", opts, err)
	}
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	if err := harness.WaitFor(ctx, 60*time.Second, func() error {
		if n := len(a.Stats().Owned); n != cfg.Partitions {
			return fmt.Errorf("owns %d of %d partitions", n, cfg.Partitions)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return a
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// fleet is the frames of a few simulated agents: windows of 60 s ending
// at end, one frame per agent per window, made with the agents' encoder
// and wire options (deltas against the previous frame, so they must be
// applied in order: a lost or reordered frame shows as a missing window
// or a base wait).
type fleet struct {
	agents, series, windows int
	first                   time.Time
	// frames[w][i] is agent i's frame of window w.
	frames [][]frame
}

type frame struct {
	subject, id string
	data        []byte
}

func site(i int) string { return fmt.Sprintf("s%d", i%3) }
func host(i int) string { return fmt.Sprintf("h%d", i) }

// count is the sample count of window w: exact on the wire and in the
// store, and different from window to window, so a window stored in
// another's place shows.
func count(w int) uint32 { return uint32(30 + w%31) }

func newFleet(t *testing.T, agents, series, windows int, end time.Time) *fleet {
	t.Helper()
	f := &fleet{agents: agents, series: series, windows: windows, first: end.Add(-time.Duration(windows) * time.Minute)}
	f.frames = make([][]frame, windows)
	for i := range agents {
		enc, err := codec.NewEncoder(codec.DefaultWireOptions())
		if err != nil {
			t.Fatal(err)
		}
		for w := range windows {
			b := &codec.Batch{Agent: site(i) + "/" + host(i), Site: site(i), Host: host(i), Seq: uint64(w + 1),
				Start: f.first.Add(time.Duration(w) * time.Minute).UnixMilli(), Width: 60_000}
			for j := range series {
				v := float64(1+i) * float64(1+j) * (1 + float64(w%17)/100)
				b.Series = append(b.Series, codec.Series{ID: uint32(j), Name: "ha_g", Labels: []string{"idx", strconv.Itoa(j)}})
				b.Rollups = append(b.Rollups, codec.Rollup{ID: uint32(j), Count: count(w), Sum: float64(count(w)) * v,
					Min: v * 0.9, Max: v * 1.1, First: v, Last: v, Quantiles: []float64{v, v * 1.05, v * 1.09}})
			}
			p, err := enc.Encode(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			f.frames[w] = append(f.frames[w], frame{"tele." + site(i) + "." + host(i), codec.MsgID(b.Agent, b.Seq), p})
		}
	}
	return f
}

func (f *fleet) total() int { return f.agents * f.windows }

// publish sends the frames of windows [from, to), window by window
// across the agents, over about d, and calls hooks[w] (in its own goroutine) when window w is
// reached for each w in hooks; it returns once the stream acknowledged
// every frame and the hooks returned.
func (f *fleet) publish(ctx context.Context, url string, from, to int, d time.Duration, hooks map[int]func()) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return err
	}
	hookErr := make(chan struct{}, len(hooks))
	tick := time.NewTicker(max(time.Millisecond, d/time.Duration(to-from)))
	defer tick.Stop()
	for w := from; w < to; w++ {
		row := f.frames[w]
		if h := hooks[w]; h != nil {
			go func() { h(); hookErr <- struct{}{} }()
		}
		for _, fr := range row {
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: fr.subject, Data: fr.data,
				Header: nats.Header{nats.MsgIdHdr: []string{fr.id}}}); err != nil {
				return fmt.Errorf("publish %s: %w", fr.id, err)
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return errors.New("publishes not acknowledged after a minute")
	}
	for range hooks {
		<-hookErr
	}
	return nil
}

// waitApplied waits until the aggregator applied every frame published,
// failing at once when one is lost.
func waitApplied(t *testing.T, ctx context.Context, a *aggregator.Aggregator, want int, timeout time.Duration) {
	t.Helper()
	var lost error
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := harness.WaitFor(lctx, timeout, func() error {
		st := a.Stats()
		if st.BaseLost+st.DecodeErrors > 0 {
			lost = fmt.Errorf("frames lost: base lost %d, decode errors %d", st.BaseLost, st.DecodeErrors)
			cancel()
			return lost
		}
		if st.Applied < uint64(want) {
			return fmt.Errorf("%d of %d frames applied (store errors %d, redelivered %d)", st.Applied, want, st.StoreErrors, st.Redelivered)
		}
		return nil
	})
	if lost != nil {
		t.Fatal(lost)
	}
	if err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	t.Logf("applied %d frames of %d published; store errors %d, redelivered %d, duplicates %d, base waits %d, keyframes asked %d",
		st.Applied, want, st.StoreErrors, st.Redelivered, st.Duplicates, st.BaseWaits, st.KeyframesAsked)
	if st.Applied != uint64(want) {
		t.Errorf("applied %d frames, published %d", st.Applied, want)
	}
}

// verify reads every agent's series through the query API (a range
// selector, so the stored windows come back as they are) and checks that
// each holds exactly the published windows from window from on, each
// once, with its own count.
func (f *fleet) verify(t *testing.T, ctx context.Context, httpAddr string, from int) {
	t.Helper()
	end := f.first.Add(time.Duration(f.windows) * time.Minute)
	rng := time.Duration(f.windows+5) * time.Minute
	missing, extra, wrong := 0, 0, 0
	for i := range f.agents {
		q := url.Values{"query": {fmt.Sprintf(`ha_g:count{site=%q,instance=%q}[%ds]`, site(i), host(i), int(rng.Seconds()))},
			"time": {strconv.FormatInt(end.Add(time.Minute).Unix(), 10)}}
		series, err := queryMatrix(ctx, "http://"+httpAddr+"/api/v1/query?"+q.Encode())
		if err != nil {
			t.Fatalf("%s: %v", host(i), err)
		}
		if len(series) != f.series {
			t.Errorf("%s: %d series stored, want %d", host(i), len(series), f.series)
		}
		for idx, pts := range series {
			seen := make(map[int64]int)
			for _, p := range pts {
				w := int((p.t - f.first.UnixMilli() - 60_000) / 60_000)
				seen[p.t]++
				switch {
				case seen[p.t] > 1 || w < from || w >= f.windows:
					extra++
				case p.v != float64(count(w)):
					wrong++
				}
			}
			for w := from; w < f.windows; w++ {
				if seen[f.first.Add(time.Duration(w+1)*time.Minute).UnixMilli()] == 0 {
					if missing < 10 {
						t.Logf("%s idx=%s: window ending %s missing", host(i), idx, f.first.Add(time.Duration(w+1)*time.Minute).Format(time.TimeOnly))
					}
					missing++
				}
			}
		}
	}
	t.Logf("verified %d agents × %d series × %d windows: missing %d, duplicated or unexpected %d, wrong count %d",
		f.agents, f.series, f.windows-from, missing, extra, wrong)
	if missing+extra+wrong > 0 {
		t.Errorf("windows missing %d, duplicated or unexpected %d, with another window's count %d", missing, extra, wrong)
	}
}

type point struct {
	t int64 // Unix ms
	v float64
}

// queryMatrix runs an instant query whose answer is a matrix and returns
// its series by their idx label.
func queryMatrix(ctx context.Context, u string) (map[string][]point, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %.500s", resp.Status, body)
	}
	var r struct {
		Data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %.300s", err, body)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("result type %q, want matrix", r.Data.ResultType)
	}
	out := make(map[string][]point)
	for _, s := range r.Data.Result {
		var pts []point
		for _, v := range s.Values {
			ts, _ := v[0].(float64)
			str, _ := v[1].(string)
			x, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("value %v: %w", v[1], err)
			}
			pts = append(pts, point{int64(ts * 1000), x})
		}
		out[s.Metric["idx"]] = append(out[s.Metric["idx"]], pts...)
	}
	return out, nil
}
