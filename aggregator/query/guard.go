package query

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Auth configures the query API's optional bearer-token authentication.
// With neither field set the API is open (bind it to localhost).
type Auth struct {
	// BearerToken is the token clients send as "Authorization: Bearer …".
	BearerToken string `yaml:"bearer_token"`
	// BearerTokenFile holds the token instead (trailing newlines dropped).
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// Token returns the configured token, "" when authentication is off.
func (a Auth) Token() (string, error) {
	if a.BearerTokenFile == "" {
		return a.BearerToken, nil
	}
	if a.BearerToken != "" {
		return "", fmt.Errorf("query: set auth.bearer_token or auth.bearer_token_file, not both")
	}
	b, err := os.ReadFile(a.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("query: auth.bearer_token_file: %w", err)
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return "", fmt.Errorf("query: auth.bearer_token_file %s is empty", a.BearerTokenFile)
	}
	return tok, nil
}

// Validate names the first bad field.
func (a Auth) Validate() error {
	if a.BearerToken != "" && a.BearerTokenFile != "" {
		return fmt.Errorf("query: set auth.bearer_token or auth.bearer_token_file, not both")
	}
	if a.BearerToken != "" && len(a.BearerToken) < 16 {
		return fmt.Errorf("query: auth.bearer_token must be at least 16 bytes, got %d", len(a.BearerToken))
	}
	return nil
}

// Validate names the first limit out of range (zero means the default).
func (l Limits) Validate() error {
	switch {
	case l.MaxSeries < 0 || l.MaxSeries > 10_000_000:
		return fmt.Errorf("query: limits.max_series %d must be between 0 (default 10000) and 10000000", l.MaxSeries)
	case l.MaxSamples < 0:
		return fmt.Errorf("query: limits.max_samples %d must be ≥ 0 (default 5000000)", l.MaxSamples)
	case l.MaxPoints < 0 || l.MaxPoints > 1_000_000:
		return fmt.Errorf("query: limits.max_points %d must be between 0 (default 11000) and 1000000", l.MaxPoints)
	case l.Timeout < 0 || l.Timeout > 10*time.Minute:
		return fmt.Errorf("query: limits.timeout %v must be between 0 (default 30s) and 10m", l.Timeout)
	case l.MaxRange < 0:
		return fmt.Errorf("query: limits.max_range %v must be ≥ 0 (default 400 days)", l.MaxRange)
	case l.MaxQueryBytes < 0 || l.MaxQueryBytes > 1<<20:
		return fmt.Errorf("query: limits.max_query_bytes %d must be between 0 (default 16384) and 1048576", l.MaxQueryBytes)
	case l.MaxMatchers < 0 || l.MaxMatchers > 10000:
		return fmt.Errorf("query: limits.max_matchers %d must be between 0 (default 64) and 10000", l.MaxMatchers)
	case l.MaxConcurrent < 0 || l.MaxConcurrent > 4096:
		return fmt.Errorf("query: limits.max_concurrent %d must be between 0 (default 16) and 4096", l.MaxConcurrent)
	case l.MaxQueued < 0 || l.MaxQueued > 100_000:
		return fmt.Errorf("query: limits.max_queued %d must be between 0 (default 64) and 100000", l.MaxQueued)
	case l.QueueTimeout < 0 || l.QueueTimeout > time.Minute:
		return fmt.Errorf("query: limits.queue_timeout %v must be between 0 (default 2s) and 1m", l.QueueTimeout)
	case l.HeavySamples < 0:
		return fmt.Errorf("query: limits.heavy_samples %d must be ≥ 0 (default 20000)", l.HeavySamples)
	case l.HeavySlots < 0 || l.HeavySlots > 1024:
		return fmt.Errorf("query: limits.heavy_slots %d must be between 0 (default: half the CPUs, at least 1) and 1024", l.HeavySlots)
	case l.HeavyQueued < 0 || l.HeavyQueued > 100_000:
		return fmt.Errorf("query: limits.heavy_queued %d must be between 0 (default 8) and 100000", l.HeavyQueued)
	}
	d := l
	d.defaults()
	if d.HeavySamples > d.MaxSamples {
		return fmt.Errorf("query: limits.heavy_samples %d must not exceed limits.max_samples %d", d.HeavySamples, d.MaxSamples)
	}
	return nil
}

// GuardStats count requests refused before they ran.
type GuardStats struct {
	Unauthorized uint64 // missing or wrong bearer token (401)
	Limited      uint64 // over a request limit (400/413/422)
	Timeouts     uint64 // ran out of limits.timeout (503)
}

type guardCounters struct {
	unauthorized, limited, timeouts atomic.Uint64
}

// GuardStats returns the counters.
func (a *API) GuardStats() GuardStats {
	return GuardStats{Unauthorized: a.gc.unauthorized.Load(), Limited: a.gc.limited.Load(), Timeouts: a.gc.timeouts.Load()}
}

// SetBearerToken turns on bearer-token authentication for every endpoint
// ("" turns it off). Call it before serving.
func (a *API) SetBearerToken(tok string) { a.token = tok }

// maxBodyBytes bounds a POSTed form.
const maxBodyBytes = 1 << 20

// ServeHTTP authenticates, bounds the request body and its run time, then
// dispatches.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.guard(w, r, a.mux) }

// Guard wraps another handler served next to the API (under /api/) with
// the same bearer token, body bound, timeout and counters.
func (a *API) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.guard(w, r, h) })
}

func (a *API) guard(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if a.token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			a.gc.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgepulse"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": "unauthorized",
				"error": "missing or invalid bearer token (Authorization: Bearer <token>)"})
			return
		}
	}
	if len(r.URL.RawQuery) > a.limits.MaxQueryBytes+4096 {
		a.gc.limited.Add(1)
		a.fail(w, &apiError{http.StatusRequestURITooLong, "bad_data",
			fmt.Errorf("URL query of %d bytes exceeds the limit (limits.max_query_bytes %d plus 4096)", len(r.URL.RawQuery), a.limits.MaxQueryBytes)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	ctx, cancel := context.WithTimeout(r.Context(), a.limits.Timeout)
	defer cancel()
	if err := r.ParseForm(); err != nil {
		// Said here: the handler's own ParseForm would find the body read.
		a.gc.limited.Add(1)
		a.fail(w, badData("form: %v", err))
		return
	}
	t, err := a.adm.admitKey(ctx, memoKey(r))
	if err != nil {
		a.fail(w, err)
		return
	}
	defer t.release()
	sw := &statusWriter{ResponseWriter: w}
	h.ServeHTTP(sw, r.WithContext(withTicket(ctx, t)))
	switch {
	case sw.status == http.StatusServiceUnavailable && sw.Header().Get("Retry-After") != "":
		// refused by the heavy slots, counted by the admitter
	case sw.status == http.StatusServiceUnavailable && ctx.Err() != nil:
		a.gc.timeouts.Add(1)
	case sw.status == http.StatusBadRequest || sw.status == http.StatusUnprocessableEntity || sw.status == http.StatusRequestEntityTooLarge:
		a.gc.limited.Add(1)
	}
}

// statusWriter remembers the response status.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// checkRange refuses a time range longer than limits.max_range.
func (a *API) checkRange(start, end time.Time) error {
	if d := end.Sub(start); d > a.limits.MaxRange {
		return badData("time range %v exceeds limits.max_range %v", d.Round(time.Second), a.limits.MaxRange)
	}
	return nil
}
