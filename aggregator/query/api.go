package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// Limits bound what one request may cost.
type Limits struct {
	MaxSeries  int           `yaml:"max_series"`  // series one selector may match; default 10000
	MaxSamples int           `yaml:"max_samples"` // samples one query may hold in memory; default 5e6
	MaxPoints  int           `yaml:"max_points"`  // steps of a range query; default 11000 (as Prometheus)
	Timeout    time.Duration `yaml:"timeout"`     // per request; default 30 s
	// MaxRange is the longest time range of a range query, /series or a
	// label query; default 400 days.
	MaxRange time.Duration `yaml:"max_range"`
	// MaxQueryBytes is the longest PromQL expression or match[] selector;
	// default 16384.
	MaxQueryBytes int `yaml:"max_query_bytes"`
	// MaxMatchers is the number of match[] parameters; default 64.
	MaxMatchers int `yaml:"max_matchers"`

	// Admission (admit.go). MaxConcurrent requests run at once (default
	// 16); up to MaxQueued more wait (default 64) for at most QueueTimeout
	// (default 2 s); beyond either a request gets 503 with Retry-After.
	MaxConcurrent int           `yaml:"max_concurrent"`
	MaxQueued     int           `yaml:"max_queued"`
	QueueTimeout  time.Duration `yaml:"queue_timeout"`
	// HeavySamples is how many samples a query may load from the store
	// before it must move to one of HeavySlots heavy slots (default
	// 20000 — a dashboard panel of one host loads a few thousand; with
	// 200000 a flood of 86k-sample queries ran on the ordinary slots and
	// a normal query's p99 was 0.4–1.2 s, with 20000 50 ms — and half
	// the CPUs Go may use, at least 1: heavy queries are
	// CPU-bound, so the other half stays for light queries and ingest —
	// with 2 on a 2-core host a flood's normal-query p99 was 225 ms, with
	// 1 98 ms, at the same heavy throughput), with up to HeavyQueued
	// waiting for one (default 8).
	HeavySamples int `yaml:"heavy_samples"`
	HeavySlots   int `yaml:"heavy_slots"`
	HeavyQueued  int `yaml:"heavy_queued"`
}

func (l *Limits) defaults() {
	if l.MaxSeries == 0 {
		l.MaxSeries = 10000
	}
	if l.MaxSamples == 0 {
		l.MaxSamples = 5_000_000
	}
	if l.MaxPoints == 0 {
		l.MaxPoints = 11000
	}
	if l.Timeout == 0 {
		l.Timeout = 30 * time.Second
	}
	if l.MaxRange == 0 {
		l.MaxRange = 400 * 24 * time.Hour
	}
	if l.MaxQueryBytes == 0 {
		l.MaxQueryBytes = 16384
	}
	if l.MaxMatchers == 0 {
		l.MaxMatchers = 64
	}
	if l.MaxConcurrent == 0 {
		l.MaxConcurrent = 16
	}
	if l.MaxQueued == 0 {
		l.MaxQueued = 64
	}
	if l.QueueTimeout == 0 {
		l.QueueTimeout = 2 * time.Second
	}
	if l.HeavySamples == 0 {
		l.HeavySamples = 20_000
	}
	if l.HeavySlots == 0 {
		l.HeavySlots = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if l.HeavyQueued == 0 {
		l.HeavyQueued = 8
	}
}

// API is the Prometheus-compatible HTTP API.
type API struct {
	q         *Queryable
	sq        storage.Queryable // what queries read; q unless SetQueryable
	engine    *promql.Engine
	parser    parser.Parser
	limits    Limits
	log       *slog.Logger
	mux       *http.ServeMux
	Version   string
	token     string        // bearer token, "" = open (guard.go)
	gc        guardCounters // requests refused before running (guard.go)
	adm       *admitter     // query slots (admit.go)
	replies                 // ok and fail (reply.go)
	ruleViews               // /api/v1/rules, SetRules (rules.go)
}

// Engine is the API's PromQL engine (the rules manager evaluates with it).
func (a *API) Engine() *promql.Engine { return a.engine }

// NewAPI returns the API over q.
func NewAPI(q *Queryable, limits Limits, log *slog.Logger) *API {
	return NewAPIWithRegistry(q, limits, log, nil)
}

// NewAPIWithRegistry is NewAPI whose PromQL engine registers its own
// metrics (prometheus_engine_query_duration_seconds, queries running, …)
// in reg; nil keeps them unregistered.
func NewAPIWithRegistry(q *Queryable, limits Limits, log *slog.Logger, reg prometheus.Registerer) *API {
	limits.defaults()
	q.MaxSeries = limits.MaxSeries
	p := parser.NewParser(parser.Options{})
	adm := newAdmitter(limits)
	a := &API{
		q: q,
		engine: promql.NewEngine(promql.EngineOpts{
			Logger:               log,
			Reg:                  reg,
			MaxSamples:           limits.MaxSamples,
			Timeout:              limits.Timeout,
			LookbackDelta:        5 * time.Minute,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
			Parser:               p,
		}),
		parser:    p,
		limits:    limits,
		log:       log,
		mux:       http.NewServeMux(),
		Version:   "dev",
		adm:       adm,
		replies:   replies{adm},
		ruleViews: ruleViews{replies: replies{adm}},
	}
	a.mux.HandleFunc("/api/v1/query", a.instant)
	a.mux.HandleFunc("/api/v1/query_range", a.rangeQuery)
	a.mux.HandleFunc("/api/v1/series", a.series)
	a.mux.HandleFunc("/api/v1/labels", a.labelNames)
	a.mux.HandleFunc("/api/v1/label/{name}/values", a.labelValues)
	a.mux.HandleFunc("/api/v1/status/buildinfo", a.buildinfo)
	a.mux.HandleFunc("/api/v1/status/tsdb", a.tsdbStatus) // tsdb.go
	a.mux.HandleFunc("/api/v1/alerts", a.alerts)
	a.mux.HandleFunc("/api/v1/rules", a.rulesList) // rules.go
	a.mux.HandleFunc("/api/v1/metadata", func(w http.ResponseWriter, r *http.Request) { a.ok(w, map[string]any{}) })
	return a
}

// SetQueryable makes queries, series and label lookups read sq (a
// wrapper of the Queryable NewAPI was given: pre-aggregates merged over
// partitions, or several regions) instead. Call it before serving.
func (a *API) SetQueryable(sq storage.Queryable) { a.sq = sq }

func (a *API) queryable() storage.Queryable {
	if a.sq != nil {
		return a.sq
	}
	return a.q
}

// parseTime accepts RFC 3339 or Unix seconds with a fraction.
func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
			return time.Time{}, fmt.Errorf("time %q out of range", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time (RFC 3339 or Unix seconds)", s)
}

// parseDuration accepts seconds with a fraction or a Prometheus duration.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > 1e9 || math.IsNaN(f) {
			return 0, fmt.Errorf("duration %q must be positive and finite", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q as a duration", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}

func (a *API) parseQuery(r *http.Request) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", badData("form: %v", err)
	}
	qs := r.Form.Get("query")
	if qs == "" {
		return "", badData("missing parameter \"query\"")
	}
	if len(qs) > a.limits.MaxQueryBytes {
		return "", badData("parameter \"query\" of %d bytes exceeds limits.max_query_bytes %d", len(qs), a.limits.MaxQueryBytes)
	}
	if _, err := a.parser.ParseExpr(qs); err != nil {
		return "", badData("invalid parameter \"query\": %v", err)
	}
	return qs, nil
}

func (a *API) instant(w http.ResponseWriter, r *http.Request) {
	qs, err := a.parseQuery(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	ts, err := parseTime(r.Form.Get("time"), time.Now())
	if err != nil {
		a.fail(w, badData("invalid parameter \"time\": %v", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.limits.Timeout)
	defer cancel()
	q, err := a.engine.NewInstantQuery(ctx, a.queryable(), nil, qs, ts)
	if err != nil {
		a.fail(w, badData("invalid parameter \"query\": %v", err))
		return
	}
	defer q.Close()
	a.result(w, q.Exec(ctx))
}

func (a *API) rangeQuery(w http.ResponseWriter, r *http.Request) {
	qs, err := a.parseQuery(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	start, err := parseTime(r.Form.Get("start"), time.Time{})
	if err != nil || r.Form.Get("start") == "" {
		a.fail(w, badData("invalid parameter \"start\": %v", orMissing(err)))
		return
	}
	end, err := parseTime(r.Form.Get("end"), time.Time{})
	if err != nil || r.Form.Get("end") == "" {
		a.fail(w, badData("invalid parameter \"end\": %v", orMissing(err)))
		return
	}
	if end.Before(start) {
		a.fail(w, badData("invalid parameter \"end\": end timestamp must not be before start time"))
		return
	}
	step, err := parseDuration(r.Form.Get("step"))
	if err != nil {
		a.fail(w, badData("invalid parameter \"step\": %v", err))
		return
	}
	if err := a.checkRange(start, end); err != nil {
		a.fail(w, err)
		return
	}
	if pts := end.Sub(start) / step; int64(pts) > int64(a.limits.MaxPoints) {
		a.fail(w, badData("exceeded maximum resolution of %d points per timeseries (this query has %d); try decreasing the query resolution (?step=XX)", a.limits.MaxPoints, pts))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.limits.Timeout)
	defer cancel()
	// Hourly points are an hour apart: look back an hour (and a minute)
	// for them, where the default 5 min would see only evaluation times
	// just after an hour's end.
	var opts promql.QueryOpts
	if a.q.Hourly(step.Milliseconds(), start.UnixMilli(), time.Now()) {
		opts = promql.NewPrometheusQueryOpts(false, time.Duration(store.HourMs)*time.Millisecond+time.Minute, nil)
	}
	q, err := a.engine.NewRangeQuery(ctx, a.queryable(), opts, qs, start, end, step)
	if err != nil {
		a.fail(w, badData("invalid parameter \"query\": %v", err))
		return
	}
	defer q.Close()
	a.result(w, q.Exec(ctx))
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("missing")
	}
	return err
}

func (a *API) result(w http.ResponseWriter, res *promql.Result) {
	if res.Err != nil {
		a.fail(w, res.Err)
		return
	}
	warns, _ := res.Warnings.AsStrings("", 10, 10)
	if b, ok := appendResult(make([]byte, 0, 4096), res.Value, warns); ok {
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	data := map[string]any{"resultType": res.Value.Type(), "result": res.Value}
	if len(warns) > 0 {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data, "warnings": warns})
		return
	}
	a.ok(w, data)
}

// matchers parses the match[] parameters.
func (a *API) matchers(r *http.Request) ([][]*labels.Matcher, error) {
	if err := r.ParseForm(); err != nil {
		return nil, badData("form: %v", err)
	}
	if n := len(r.Form["match[]"]); n > a.limits.MaxMatchers {
		return nil, badData("%d match[] parameters exceed limits.max_matchers %d", n, a.limits.MaxMatchers)
	}
	var out [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		if len(s) > a.limits.MaxQueryBytes {
			return nil, badData("match[] selector of %d bytes exceeds limits.max_query_bytes %d", len(s), a.limits.MaxQueryBytes)
		}
		ms, err := a.parser.ParseMetricSelector(s)
		if err != nil {
			return nil, badData("invalid parameter \"match[]\": %v", err)
		}
		out = append(out, ms)
	}
	return out, nil
}

func (a *API) timeRange(r *http.Request) (int64, int64, error) {
	start, err := parseTime(r.Form.Get("start"), time.Unix(0, 0))
	if err != nil {
		return 0, 0, badData("invalid parameter \"start\": %v", err)
	}
	end, err := parseTime(r.Form.Get("end"), time.Now().Add(time.Hour))
	if err != nil {
		return 0, 0, badData("invalid parameter \"end\": %v", err)
	}
	if end.Before(start) {
		return 0, 0, badData("invalid parameter \"end\": end timestamp must not be before start time")
	}
	if r.Form.Get("start") != "" {
		if err := a.checkRange(start, end); err != nil {
			return 0, 0, err
		}
	}
	return start.UnixMilli(), end.UnixMilli(), nil
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	sets, err := a.matchers(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	if len(sets) == 0 {
		a.fail(w, badData("no match[] parameter provided"))
		return
	}
	mint, maxt, err := a.timeRange(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	q, _ := a.queryable().Querier(mint, maxt)
	defer q.Close()
	seen := make(map[string]bool)
	out := []labels.Labels{}
	for _, ms := range sets {
		ss := q.Select(r.Context(), true, &storage.SelectHints{Start: mint, End: maxt, Func: "series"}, ms...)
		for ss.Next() {
			ls := ss.At().Labels()
			if k := ls.String(); !seen[k] {
				seen[k] = true
				out = append(out, ls)
			}
		}
		if err := ss.Err(); err != nil {
			a.fail(w, err)
			return
		}
	}
	a.ok(w, out)
}

func (a *API) labelNames(w http.ResponseWriter, r *http.Request) {
	a.labelList(w, r, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		v, _, err := q.LabelNames(r.Context(), nil, ms...)
		return v, err
	})
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !codec.ValidLabelName(name) {
		a.fail(w, badData("invalid label name: %q", name))
		return
	}
	a.labelList(w, r, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		v, _, err := q.LabelValues(r.Context(), name, nil, ms...)
		return v, err
	})
}

// labelList answers a label endpoint: the union of list over every match[]
// selector (or over all series without one), sorted and unique.
func (a *API) labelList(w http.ResponseWriter, r *http.Request, list func(storage.Querier, []*labels.Matcher) ([]string, error)) {
	sets, err := a.matchers(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	q, _ := a.queryable().Querier(math.MinInt64, math.MaxInt64)
	defer q.Close()
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	var out []string
	for _, ms := range sets {
		v, err := list(q, ms)
		if err != nil {
			a.fail(w, err)
			return
		}
		out = append(out, v...)
	}
	a.ok(w, uniqSorted(out))
}

// alerts lists the rules' active alerts and the open edge incidents in
// the shape of Prometheus' /api/v1/alerts, so Grafana and amtool-style
// readers understand it. An incident's labels: alertname (its series),
// site, instance, incident and the series' labels (job among them).
func (a *API) alerts(w http.ResponseWriter, r *http.Request) {
	incs, err := a.q.Store.OpenIncidents(r.Context())
	if err != nil {
		a.fail(w, &apiError{http.StatusInternalServerError, "internal", err})
		return
	}
	type alert struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		State       string            `json:"state"`
		ActiveAt    time.Time         `json:"activeAt"`
		Value       string            `json:"value"`
	}
	out := make([]alert, 0, len(incs))
	if a.rules != nil {
		for _, r := range a.rules.AlertingRules() {
			for _, al := range r.ActiveAlerts() {
				out = append(out, alert{Labels: al.Labels.Map(), Annotations: al.Annotations.Map(),
					State: al.State.String(), ActiveAt: al.ActiveAt.UTC(), Value: strconv.FormatFloat(al.Value, 'e', -1, 64)})
			}
		}
	}
	for _, in := range incs {
		ls := map[string]string{"alertname": in.Series, "site": in.Site, "instance": in.Host, "incident": strconv.FormatUint(in.Incident, 10)}
		for k, v := range in.Labels {
			ls[k] = v
		}
		out = append(out, alert{
			Labels:      ls,
			Annotations: map[string]string{"reason": in.Reason, "score": strconv.FormatFloat(in.Score, 'f', 3, 64)},
			State:       "firing",
			ActiveAt:    time.UnixMilli(int64(in.Incident)).UTC(),
			Value:       strconv.FormatFloat(in.Value, 'g', -1, 64),
		})
	}
	slices.SortFunc(out, func(x, y alert) int { return x.ActiveAt.Compare(y.ActiveAt) })
	a.ok(w, map[string]any{"alerts": out})
}

// AdmitStats returns the admission counters and gauges.
func (a *API) AdmitStats() AdmitStats { return a.adm.stats() }

func (a *API) buildinfo(w http.ResponseWriter, r *http.Request) {
	// Grafana reads this to pick its Prometheus dialect.
	a.ok(w, map[string]string{"version": "2.55.0", "revision": "edgepulse-" + a.Version, "branch": "", "buildUser": "", "buildDate": "", "goVersion": ""})
}

func uniqSorted(v []string) []string {
	m := make(map[string]struct{}, len(v))
	out := make([]string, 0, len(v))
	for _, s := range v {
		if _, ok := m[s]; !ok {
			m[s] = struct{}{}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
