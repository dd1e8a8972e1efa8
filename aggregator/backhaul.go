package aggregator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

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
