package uibench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/console"
	"github.com/edgepulse/edgepulse/aggregator/store"
)

// checkExpiredClose is TestConsoleBrowser's check that the close of an
// incident the store expired, which arrives without a window (an
// incidents-only notice, as another member's console.Expired publishes
// it), updates the fleet page's open count and the incidents page's open
// list without a reload, and adds no host to the fleet. It needs an open
// incident (the previous subtest's). The close is only pushed: the store
// keeps the incident open, so each page, loading, lists it again.
func checkExpiredClose(ctx context.Context, tab context.Context, s *Stack) error {
	open, err := openIncidents(ctx, s)
	if err != nil {
		return err
	}
	if len(open) == 0 {
		return fmt.Errorf("no open incident to expire")
	}
	n := len(open)
	closed := open[0]
	closed.State, closed.Time, closed.Expired = "closed", time.Now().UnixMilli(), "age"
	closed.Reason = "expired: pushed by the browser test"
	closed.Context, closed.ContextStart, closed.ContextStepMs = nil, 0, 0
	doc, err := json.Marshal(map[string]any{"f": "console/other-member/00000000", "a": closed.Time, "i": []store.Incident{closed}})
	if err != nil {
		return err
	}
	nc, err := nats.Connect(s.HubURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	push := func() error {
		if err := nc.Publish(console.NoticeSubject, doc); err != nil {
			return err
		}
		return nc.Flush()
	}

	// The fleet page: its status line counts the open incidents.
	if _, err := Eval[bool](tab, `(window.__ep.rendered.fleet = 0, true)`); err != nil {
		return err
	}
	if err := show(tab, "#/fleet"); err != nil {
		return err
	}
	count := func(k int) string {
		return fmt.Sprintf(`[...document.querySelectorAll('span.muted')].some((e) => e.textContent.endsWith(' · %d open incidents'))`, k)
	}
	if err := WaitJS(tab, 20*time.Second, `window.__ep.rendered.fleet && `+count(n)); err != nil {
		return fmt.Errorf("fleet page before the expiry: %w", err)
	}
	hosts, err := Eval[float64](tab, `window.__ep.rendered.fleetHosts`)
	if err != nil {
		return err
	}
	if err := push(); err != nil {
		return err
	}
	if err := WaitJS(tab, 10*time.Second, count(n-1)); err != nil {
		return fmt.Errorf("the fleet page's open count did not drop from %d on the expired close: %w", n, err)
	}
	time.Sleep(time.Second) // a host added by a stray window would be drawn within 500 ms
	if h, err := Eval[float64](tab, `window.__ep.rendered.fleetHosts`); err != nil || h != hosts {
		return fmt.Errorf("the fleet lists %v hosts after the expired close (%v), want %v: a window without a host was made up", h, err, hosts)
	}

	// The incidents page: its open list loses the incident.
	if _, err := Eval[bool](tab, `(window.__ep.rendered.incidents = 0, true)`); err != nil {
		return err
	}
	if err := show(tab, "#/incidents"); err != nil {
		return err
	}
	rows := func(k int) string {
		return fmt.Sprintf(`document.getElementById('inc-state').value === 'open' && document.querySelectorAll('#inc-table tr.clickable').length === %d`, k)
	}
	if err := WaitJS(tab, 20*time.Second, `window.__ep.rendered.incidents && `+rows(n)); err != nil {
		return fmt.Errorf("incidents page before the expiry: %w", err)
	}
	if err := push(); err != nil {
		return err
	}
	if err := WaitJS(tab, 10*time.Second, rows(n-1)); err != nil {
		return fmt.Errorf("the incidents page still lists %d open after the expired close: %w", n, err)
	}
	return nil
}

// openIncidents reads the open incidents from the console's list.
func openIncidents(ctx context.Context, s *Stack) ([]store.Incident, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.APIURL+"/ui/api/incidents?hours=1", nil)
	if err != nil {
		return nil, err
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Open []store.Incident `json:"open"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /ui/api/incidents: %d %v", resp.StatusCode, err)
	}
	return body.Data.Open, nil
}
