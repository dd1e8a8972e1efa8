package query

import (
	"net/http"
	"strconv"
	"sync"
)

// heavyMemo remembers which queries were heavy when they last ran, so a
// repeat takes a heavy slot at once (admitter.admitKey) instead of holding
// one of the ordinary slots while it reads the index and estimates: a
// flood of one heavy query then queues for the two heavy slots (or gets
// 503) without ever standing in front of a light query. Keyed by the
// request path, the PromQL text and the range's length (minutes) — not
// its position, so a dashboard refreshing the same panel hits. At most
// memoSize entries; when full, an arbitrary one goes. Safe for concurrent
// use.
type heavyMemo struct {
	mu sync.Mutex
	m  map[string]bool
}

const memoSize = 4096

func (h *heavyMemo) heavy(key string) bool {
	if key == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[key]
}

func (h *heavyMemo) record(key string, heavy bool) {
	if key == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]bool)
	}
	if !heavy {
		delete(h.m, key)
		return
	}
	if _, ok := h.m[key]; !ok && len(h.m) >= memoSize {
		for k := range h.m {
			delete(h.m, k)
			break
		}
	}
	h.m[key] = true
}

// memoKey is r's key in the heavyMemo: "" for a request without a query.
// r's form is parsed.
func memoKey(r *http.Request) string {
	q := r.Form.Get("query")
	if q == "" {
		return ""
	}
	span := ""
	if s, e := r.Form.Get("start"), r.Form.Get("end"); s != "" && e != "" {
		if sf, err1 := strconv.ParseFloat(s, 64); err1 == nil {
			if ef, err2 := strconv.ParseFloat(e, 64); err2 == nil {
				span = strconv.FormatInt(int64(ef-sf)/60, 10)
			}
		}
	}
	return r.URL.Path + "\x00" + q + "\x00" + span
}
