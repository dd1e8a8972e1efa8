package uibench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/console"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

const testToken = "console-test-token-0123456789"

// TestConsoleBrowser drives the console in headless chromium against a
// real stack (fixture /proc, 2 s windows, bearer token on): a bad token is
// refused (login form and WebSocket), the fleet page lists the host, the
// host page draws charts with data and receives windows by push, live mode
// receives the agent's 1 s samples and the agent stops publishing them
// once the page is closed, an incident appears on the incidents page
// without a reload, and the query page charts a PromQL answer. One PNG per
// page goes to the test's artifact directory (and to
// $EDGEPULSE_CONSOLE_SHOTS when set: make ui-shots uses it for docs/console/).
func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and a browser")
	}
	if _, err := Chromium(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	procRoot := filepath.Join(dir, "proc")
	if err := harness.CopyTree("../testdata/proc", procRoot); err != nil {
		t.Fatal(err)
	}
	s, err := StartStack(ctx, StackOptions{Dir: dir, ProcRoot: procRoot, Window: "2s", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	shots := t.ArtifactDir()
	extra := os.Getenv("EDGEPULSE_CONSOLE_SHOTS")
	shot := func(tab context.Context, name string) {
		t.Helper()
		for _, d := range []string{shots, extra} {
			if d == "" {
				continue
			}
			if err := Screenshot(tab, filepath.Join(d, name)); err != nil {
				t.Errorf("screenshot %s: %v", name, err)
			}
		}
	}

	bctx, bcancel, err := Browser(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bcancel()
	tab, tcancel := chromedp.NewContext(bctx)
	defer tcancel()
	ui := s.APIURL + "/ui/"
	fail := func(t *testing.T, format string, args ...any) {
		t.Helper()
		errs, _ := Eval[[]string](tab, "window.__ep ? window.__ep.errors : []")
		t.Fatalf(format+"\nbrowser errors: %v\n%s", append(args, errs, s.Logs())...)
	}

	t.Run("bad token refused", func(t *testing.T) {
		if err := chromedp.Do(tab, chromedp.Navigate(s.APIURL+"/")); err != nil { // / redirects to /ui/
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.WaitVisible("#login-token")); err != nil {
			fail(t, "no login form without a token: %v", err)
		}
		err := chromedp.Do(tab, chromedp.SendKeys("#login-token", "wrong-token-0123456789"),
			chromedp.Click("#login-form button"))
		if err != nil {
			t.Fatal(err)
		}
		if err := WaitJS(tab, 10*time.Second, `document.getElementById('login-error').textContent.includes('refused')`); err != nil {
			fail(t, "a wrong token was not refused: %v", err)
		}
		shot(tab, "login.png")
		// The WebSocket too: auth with a wrong token is closed with 4401.
		c, _, err := websocket.Dial(ctx, strings.Replace(s.APIURL, "http", "ws", 1)+"/ui/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":"wrong-token-0123456789"}`))
		_, _, err = c.Read(ctx)
		if websocket.CloseStatus(err) != 4401 {
			t.Fatalf("WebSocket with a wrong token: got %v, want close 4401", err)
		}
	})

	t.Run("fleet lists the host", func(t *testing.T) {
		// 30 simulated hosts on 3 more sites beside the real one.
		st, err := store.Open(ctx, store.Options{Addr: s.Redis.Addr})
		if err != nil {
			t.Fatal(err)
		}
		_, err = SeedFleet(ctx, st, 3, 30, 5, time.Now())
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(tab, chromedp.Navigate(ui)); err != nil {
			t.Fatal(err)
		}
		if err := login(tab, testToken); err != nil {
			t.Fatal(err)
		}
		// The first window lands within a few seconds; reload until then.
		err = harness.WaitFor(ctx, 60*time.Second, func() error {
			if err := show(tab, "#/fleet"); err != nil {
				return err
			}
			return WaitJS(tab, 5*time.Second, `document.querySelector('tr[data-host="siteA/hostA"] .st.up')`)
		})
		if err != nil {
			fail(t, "fleet page does not list siteA/hostA as up: %v", err)
		}
		if n, _ := Eval[float64](tab, "window.__ep.rendered.fleetHosts"); n != 31 {
			t.Errorf("fleet page lists %v hosts, want 31", n)
		}
		if tok, _ := Eval[string](tab, "sessionStorage.getItem('ep_token')"); tok != testToken {
			t.Errorf("token in session storage = %q", tok)
		}
		if u, _ := Eval[string](tab, "location.href"); strings.Contains(u, testToken) {
			t.Errorf("the token is in the URL: %s", u)
		}
		shot(tab, "fleet.png")
	})

	t.Run("fleet adds a host by push", func(t *testing.T) {
		// Another member of a cluster applied the first frame of a host this
		// page has never listed: its notice (what console.Applied publishes)
		// reaches this member's console, which pushes it to the page.
		nc, err := nats.Connect(s.HubURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		start := time.Now().Add(-2*time.Second).UnixMilli() / 2000 * 2000
		doc := fmt.Sprintf(`{"f":"console/other-member/00000000","s":"siteN","h":"hostNew","t":%d,"w":2000,"a":%d}`, start, time.Now().UnixMilli())
		if err := nc.Publish(console.NoticeSubject, []byte(doc)); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		if err := WaitJS(tab, 15*time.Second, `document.querySelector('tr[data-host="siteN/hostNew"] .st.up') && window.__ep.rendered.fleetHosts === 32`); err != nil {
			fail(t, "a host that appeared after the fleet page loaded is not listed without a reload: %v", err)
		}
		if n, _ := Eval[float64](tab, `[...document.querySelectorAll('#fleet-site option')].filter((o) => o.value === 'siteN').length`); n != 1 {
			t.Errorf("the new host's site is %v times in the site filter, want 1", n)
		}
	})

	t.Run("host page charts and push", func(t *testing.T) {
		if err := show(tab, "#/host/siteA/hostA?range=15m"); err != nil {
			t.Fatal(err)
		}
		if err := WaitJS(tab, 30*time.Second, `window.__ep.rendered.hostPoints && window.__ep.rendered.hostPoints[0] > 0 && document.querySelector('[data-chart="load"] canvas')`); err != nil {
			fail(t, "host page drew no chart with data: %v", err)
		}
		// A window pushed as its frame is applied, without a reload.
		if err := WaitJS(tab, 30*time.Second, `window.__ep.pushLat.length >= 2`); err != nil {
			fail(t, "no window pushed to the host page: %v", err)
		}
		// Zoomed to 40 s (fewer than 30 windows): the gauge charts are the
		// agent's raw 1 s samples, fetched over the leaf link, and say so.
		err := harness.WaitFor(ctx, 45*time.Second, func() error {
			now := time.Now().Unix()
			if err := show(tab, fmt.Sprintf("#/host/siteA/hostA?from=%d&to=%d", now-40, now)); err != nil {
				return err
			}
			return WaitJS(tab, 5*time.Second, `document.querySelector('[data-chart="load"] h3').textContent.includes('raw 1 s samples')`+
				` && window.__ep.rendered.hostPoints[0] >= 15 && document.getElementById('host-note').textContent.includes('raw samples fetched from agent')`)
		})
		if err != nil {
			pts, _ := Eval[any](tab, "JSON.stringify([window.__ep.rendered, document.getElementById('host-note').textContent])")
			fail(t, "zoomed host page shows no raw detail: %v\n%v", err, pts)
		}
		shot(tab, "host.png")
	})

	t.Run("live mode", func(t *testing.T) {
		nc, err := nats.Connect(s.HubURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var frames atomic.Int64
		var last atomic.Int64
		sub, err := nc.Subscribe(codec.LiveSubject("siteA", "hostA"), func(*nats.Msg) {
			frames.Add(1)
			last.Store(time.Now().UnixNano())
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		nc.Flush()
		if frames.Load() != 0 {
			t.Fatal("live frames before anyone watches")
		}

		live, lcancel := chromedp.NewContext(bctx) // a second tab, closed below
		err = chromedp.Do(live, chromedp.Navigate(ui), chromedp.WaitVisible("#login-token"))
		if err == nil {
			// The fleet page the login shows first answers late, after the
			// host page has started live mode, as happens under load: the page
			// left must not take over the push handler of the page shown
			// (it did: the live charts stayed at 0 points).
			_, err = Eval[bool](live, slowFirstSeries)
		}
		if err == nil {
			err = login(live, testToken) // session storage is per tab
		}
		if err == nil {
			err = show(live, "#/host/siteA/hostA?range=15m")
		}
		if err == nil {
			err = chromedp.Do(live, chromedp.WaitVisible("#live-btn"), chromedp.Click("#live-btn"))
		}
		if err != nil {
			lcancel()
			t.Fatal(err)
		}
		if err := WaitJS(live, 30*time.Second, `window.__ep.liveFrames >= 5`); err != nil {
			lcancel()
			fail(t, "live mode received no 1 s samples: %v", err)
		}
		// Every live chart draws points: load, memory and CPU busy (from the
		// idle counters' differences).
		for _, k := range []string{"load", "mem", "cpu"} {
			if n, _ := Eval[float64](live, "window.__ep.rendered.live && window.__ep.rendered.live."+k); n < 3 {
				t.Errorf("live chart %s has %v points", k, n)
			}
		}
		if err := WaitJS(live, 10*time.Second, `document.getElementById('live-stat').textContent.includes('/min')`); err != nil {
			t.Errorf("live mode does not show its uplink cost: %v", err)
		}
		lat, _ := Eval[[]float64](live, "window.__ep.liveLat")
		t.Logf("live latency sample→browser (ms): %v", lat)
		shot(live, "host-live.png")
		// Once the late fleet page has answered, the live charts still grow.
		if err := WaitJS(live, 30*time.Second, `window.__ep.slowSeriesDone`); err != nil {
			lcancel()
			fail(t, "the delayed fleet query never answered: %v", err)
		}
		seen, _ := Eval[float64](live, "window.__ep.liveFrames")
		drawn, _ := Eval[float64](live, "window.__ep.rendered.live ? window.__ep.rendered.live.load : 0")
		// Still streaming while the page watches (the lease is renewed):
		// three more frames in the browser and on the hub, counted from now.
		before := frames.Load()
		if err := WaitJS(live, 15*time.Second, fmt.Sprintf("window.__ep.liveFrames >= %d", int(seen)+3)); err != nil {
			lcancel()
			fail(t, "live mode stopped while the page watched: %v", err)
		}
		if frames.Load() <= before {
			t.Fatalf("no live frames on the hub while the page watched (%d)", before)
		}
		if n, _ := Eval[float64](live, "window.__ep.rendered.live ? window.__ep.rendered.live.load : 0"); n < drawn+2 {
			t.Errorf("the live load chart went from %v to %v points over 3 frames: the page shown no longer handles the pushes", drawn, n)
		}
		lcancel() // closing the tab closes its WebSocket
		closed := time.Now()

		// The agent stops within a few seconds: nothing for 4 s after that.
		err = harness.WaitFor(ctx, 20*time.Second, func() error {
			if l := last.Load(); time.Since(time.Unix(0, l)) < 4*time.Second {
				return fmt.Errorf("live frames still arriving %v after the page closed", time.Since(closed).Round(time.Second))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		lag := time.Unix(0, last.Load()).Sub(closed)
		if lag > 5*time.Second {
			t.Fatalf("the agent streamed for %v after the page closed", lag)
		}
		t.Logf("live frames on the hub: %d; the last %v after the page closed", frames.Load(), lag.Round(10*time.Millisecond))
	})

	t.Run("incident appears without reload", func(t *testing.T) {
		if err := show(tab, "#/incidents"); err != nil {
			t.Fatal(err)
		}
		if err := WaitJS(tab, 10*time.Second, `window.__ep.rendered.incidents`); err != nil {
			fail(t, "incidents page: %v", err)
		}
		// The fixture's memory is half available; this rule fires at once
		// (as in TestNATSCLI), pushed through the config bucket.
		nc, err := nats.Connect(s.HubURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		kv, err := js.KeyValue(ctx, "EP_CONFIG")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "siteA.hostA", []byte("detect:\n  context: 5\n  incident: {open_after: 1}\n  detectors:\n    rules:\n      - {name: mem_used, series: memory_available_percent, op: \"<\", threshold: 100}\n")); err != nil {
			t.Fatal(err)
		}
		if err := WaitJS(tab, 60*time.Second, `document.getElementById('inc-table').textContent.includes('memory_available_percent') && window.__ep.incidentsPushed > 0`); err != nil {
			fail(t, "the incident did not appear without a reload: %v", err)
		}
		shot(tab, "incidents.png")
	})

	t.Run("expired incident leaves without reload", func(t *testing.T) {
		if err := checkExpiredClose(ctx, tab, s); err != nil {
			fail(t, "%v", err)
		}
	})

	t.Run("query page", func(t *testing.T) {
		if err := show(tab, "#/query?q=node_load1:avg&range=15m"); err != nil {
			t.Fatal(err)
		}
		if err := WaitJS(tab, 20*time.Second, `window.__ep.rendered.querySeries >= 1 && document.querySelector('#query-chart canvas')`); err != nil {
			fail(t, "query page: %v", err)
		}
		shot(tab, "query.png")
	})

	t.Run("sign out", func(t *testing.T) {
		if err := chromedp.Do(tab, chromedp.WaitVisible("#signout"), chromedp.Click("#signout"), chromedp.WaitVisible("#login-token")); err != nil {
			fail(t, "sign out: %v", err)
		}
		if tok, _ := Eval[any](tab, "sessionStorage.getItem('ep_token')"); tok != nil {
			t.Errorf("token still in session storage after signing out: %v", tok)
		}
		if err := WaitJS(tab, 10*time.Second, `document.getElementById('conn').textContent === 'push: off' && document.getElementById('view').textContent === ''`); err != nil {
			t.Errorf("the page still shows data or push after signing out: %v", err)
		}
		// The console has closed its WebSocket: no browser is connected
		// (the live tab is closed too).
		err := harness.WaitFor(ctx, 10*time.Second, func() error {
			v, err := metricValue(ctx, s.APIURL+"/metrics", "edgepulse_console_ws_connections")
			if err == nil && v != 0 {
				err = fmt.Errorf("%v console WebSocket connections", v)
			}
			return err
		})
		if err != nil {
			t.Errorf("after signing out: %v", err)
		}
		// A reload does not sign in again by itself.
		if err := chromedp.Do(tab, chromedp.Reload(), chromedp.WaitVisible("#login-token")); err != nil {
			t.Errorf("after signing out, a reload shows no login form: %v", err)
		}
	})

	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("test ran out of time")
	}
}

// slowFirstSeries makes the tab's first /api/v1/series request (the fleet
// page's) answer 4 s late and sets window.__ep.slowSeriesDone once it has.
const slowFirstSeries = `(() => {
  const f = window.fetch;
  let first = true;
  window.fetch = (u, o) => {
    if (!first || !String(u).startsWith('/api/v1/series')) return f(u, o);
    first = false;
    return new Promise((r) => setTimeout(r, 4000)).then(() => f(u, o))
      .finally(() => setTimeout(() => { window.__ep.slowSeriesDone = true; }, 500));
  };
  return true;
})()`

// metricValue reads one unlabelled series from a /metrics page.
func metricValue(ctx context.Context, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", url, name)
}

// login signs in through the page's form.
func login(tab context.Context, token string) error {
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.WaitVisible("#login-token"), chromedp.SetValue("#login-token", token),
		chromedp.Click("#login-form button"), chromedp.WaitNotVisible("#login"))
}

// show routes the single-page app to hash (re-rendering when it is
// already there), as a click on a link would.
func show(tab context.Context, hash string) error {
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	_, err := Eval[bool](ctx, fmt.Sprintf("(location.hash === %q ? route() : (location.hash = %q), true)", hash, hash))
	return err
}
