package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// incidentList serves GET /ui/api/incidents?hours=H&limit=N: the open
// incidents and the transitions (open and close events) of the last H
// hours (default 24, 1–720), newest first, at most N (default 500, up to
// store.MaxRecentIncidents), read from log (nil: none).
type incidentList struct{ log IncidentLog }

// ServeHTTP serves the list.
func (l incidentList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, typ string, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": err.Error()})
	}
	hours, limit := 24, 500
	for _, p := range []struct {
		name     string
		v        *int
		min, max int
	}{{"hours", &hours, 1, 720}, {"limit", &limit, 1, store.MaxRecentIncidents}} {
		if s := r.URL.Query().Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < p.min || n > p.max {
				fail(http.StatusBadRequest, "bad_data", fmt.Errorf("invalid parameter %q: %q must be an integer between %d and %d", p.name, s, p.min, p.max))
				return
			}
			*p.v = n
		}
	}
	if l.log == nil {
		fail(http.StatusServiceUnavailable, "unavailable", fmt.Errorf("no incident store"))
		return
	}
	open, err := l.log.OpenIncidents(r.Context())
	if err != nil {
		fail(http.StatusServiceUnavailable, "unavailable", err)
		return
	}
	now := time.Now()
	recent, bad, err := l.log.RecentIncidents(r.Context(), now.Add(-time.Duration(hours)*time.Hour), now.Add(time.Hour), limit)
	if err != nil {
		fail(http.StatusServiceUnavailable, "unavailable", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
		"open": open, "recent": recent, "undecodable": bad}})
}
