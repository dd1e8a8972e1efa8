package aggregator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
)

// surface is the aggregator's HTTP surface on one listener: the
// Prometheus query API (aggregator/query), /api/v1/backhaul behind the
// API's guard, the probes /healthz and /readyz, /statz and /metrics.
type surface struct {
	member  string
	started time.Time
	api     *query.API
	// metrics is what /metrics serves: the aggregator's registry
	// (metrics.go), the regions' and the console's.
	metrics prometheus.Gatherer
	// mounts add the optional parts' paths (the global query API, the
	// web console).
	mounts []func(*http.ServeMux)
	store  *store.Store
	hub    *hub
	health *storeHealth
	stats  func() Stats
	log    *slog.Logger
}

// handler routes the surface's paths.
func (s *surface) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", s.api)
	mux.HandleFunc("/healthz", s.healthz)
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/statz", s.statz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("/api/v1/backhaul", s.api.Guard(http.HandlerFunc(s.backhaul)))
	for _, mount := range s.mounts {
		mount(mux)
	}
	return mux
}

// ready returns why this member should take no traffic, or nil.
func (s *surface) ready(now time.Time) error {
	if err := s.hub.ready(); err != nil {
		return err
	}
	return s.health.ready(now)
}

// statz serves Stats as JSON.
func (s *surface) statz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.stats())
}

// healthz is the liveness probe: it never depends on Redis.
func (s *surface) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := s.hub.live(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok member=%s up=%s\n", s.member, time.Since(s.started).Round(time.Second))
}

// readyz is the readiness probe: 503 with the reason, or 200 with a
// summary.
func (s *surface) readyz(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	if err := s.ready(now); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	st := s.stats()
	redis := "ok"
	h := s.health
	if d, err := h.writes.failing(now, h.writeStale()); d > 0 {
		redis = fmt.Sprintf("writes failing for %s (unready after %s): %v", d.Round(time.Millisecond), h.unreadyAfter, err)
	} else if d, err := h.probe.failing(now, 0); d > 0 {
		redis = fmt.Sprintf("probe failing for %s (unready after %s): %v", d.Round(time.Millisecond), h.unreadyAfter, err)
	}
	fmt.Fprintf(w, "ok member=%s members=%d owned=%d applied=%d store_errors=%d redis=%s\n",
		s.member, len(st.Members), len(st.Owned), st.Applied, st.StoreErrors, redis)
}

// backhaulMinutes is the span of the live backhaul meter on /metrics.
const backhaulMinutes = 10

// backhaul serves GET /api/v1/backhaul?minutes=N (default 10, 1–2880):
// per site, the frame bytes its agents' windows cost per host-minute over
// the last N whole minutes, counted by window start, so a backlog drained
// after an outage lands in the minutes it describes. Protocol overhead on
// the leaf link is not in it; `make backhaul` measures the wire.
func (s *surface) backhaul(w http.ResponseWriter, r *http.Request) {
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
	bh, err := s.store.Backhauls(r.Context(), minutes, time.Now())
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "unavailable", "error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": bh})
}
