package aggregator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// statz serves Stats as JSON.
func (a *Aggregator) statz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a.Stats())
}

// healthz is the liveness probe: it never depends on Redis.
func (a *Aggregator) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := a.live(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok member=%s up=%s\n", a.cfg.Name, time.Since(a.started).Round(time.Second))
}

// readyz is the readiness probe: 503 with the reason, or 200 with a
// summary.
func (a *Aggregator) readyz(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	if err := a.ready(now); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	st := a.Stats()
	redis := "ok"
	if d, err := a.writes.failing(now, a.writeStale()); d > 0 {
		redis = fmt.Sprintf("writes failing for %s (unready after %s): %v", d.Round(time.Millisecond), a.cfg.RedisUnreadyAfter, err)
	} else if d, err := a.probe.failing(now, 0); d > 0 {
		redis = fmt.Sprintf("probe failing for %s (unready after %s): %v", d.Round(time.Millisecond), a.cfg.RedisUnreadyAfter, err)
	}
	fmt.Fprintf(w, "ok member=%s members=%d owned=%d applied=%d store_errors=%d redis=%s\n",
		a.cfg.Name, len(st.Members), len(st.Owned), st.Applied, st.StoreErrors, redis)
}

// backhaulMinutes is the span of the live backhaul meter on /metrics.
const backhaulMinutes = 10

// backhaul serves GET /api/v1/backhaul?minutes=N (default 10, 1–2880):
// per site, the frame bytes its agents' windows cost per host-minute over
// the last N whole minutes, counted by window start, so a backlog drained
// after an outage lands in the minutes it describes. Protocol overhead on
// the leaf link is not in it; `make backhaul` measures the wire.
func (a *Aggregator) backhaul(w http.ResponseWriter, r *http.Request) {
	minutes := backhaulMinutes
	if v := r.URL.Query().Get("minutes"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2880 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data",
				"error": fmt.Sprintf("invalid parameter \"minutes\": %q must be an integer between 1 and 2880", v)})
			return
		}
		minutes = n
	}
	bh, err := a.store.Backhauls(r.Context(), minutes, time.Now())
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "unavailable", "error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": bh})
}
