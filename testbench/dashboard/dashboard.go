package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Target is one query of a panel.
type Target struct {
	Row, Panel, Expr string
}

// Variable is a query variable: its name and label_values query.
type Variable struct {
	Name, Query string
}

// Dashboard is what the check takes from a Grafana dashboard's JSON: its
// query variables (in order, each may use the ones before) and the
// distinct target expressions (the first panel and row that use each).
type Dashboard struct {
	Title     string
	Variables []Variable
	Targets   []Target
}

// Load reads a dashboard JSON file.
func Load(path string) (*Dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var raw struct {
		Title      string     `json:"title"`
		Panels     []rawPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", path, err)
	}
	d := &Dashboard{Title: raw.Title}
	for _, v := range raw.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var s string
			if err := json.Unmarshal(v.Query, &s); err != nil {
				return nil, fmt.Errorf("dashboard %s: variable %s: query is neither an object nor a string", path, v.Name)
			}
			q.Query = s
		}
		d.Variables = append(d.Variables, Variable{Name: v.Name, Query: q.Query})
	}
	seen := map[string]bool{}
	var walk func(ps []rawPanel, row string)
	walk = func(ps []rawPanel, row string) {
		for _, p := range ps {
			if p.Type == "row" {
				row = p.Title
				walk(p.Panels, row)
				continue
			}
			for _, t := range p.Targets {
				if t.Expr == "" || seen[t.Expr] {
					continue
				}
				seen[t.Expr] = true
				d.Targets = append(d.Targets, Target{Row: row, Panel: p.Title, Expr: t.Expr})
			}
			walk(p.Panels, row)
		}
	}
	walk(raw.Panels, "")
	return d, nil
}

type rawPanel struct {
	Type    string     `json:"type"`
	Title   string     `json:"title"`
	Panels  []rawPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*(\w+)\s*\)\s*$`)

// Resolve gives each variable its first value (sorted, as the dashboard's
// sort 1 does), resolving label_values(selector, label) the way Grafana
// does: /api/v1/label/<label>/values?match[]=<selector>, or without a
// selector over every series.
func Resolve(ctx context.Context, c *Client, vars []Variable) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		m := labelValuesRE.FindStringSubmatch(v.Query)
		if m == nil {
			return out, fmt.Errorf("variable %s: query %q is not label_values(…)", v.Name, v.Query)
		}
		values, err := c.LabelValues(ctx, m[2], Expand(m[1], out, 0))
		if err != nil {
			return out, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		if len(values) == 0 {
			return out, fmt.Errorf("variable %s: %s has no values", v.Name, v.Query)
		}
		sort.Strings(values)
		out[v.Name] = values[0]
	}
	return out, nil
}

// Expand substitutes $name and ${name} with vars, and $__rate_interval
// with rateInterval (Grafana: max(4 × scrape interval, interval +
// scrape interval); the check passes one value for both systems).
func Expand(expr string, vars map[string]string, rateInterval time.Duration) string {
	if rateInterval > 0 {
		r := promDuration(rateInterval)
		expr = strings.ReplaceAll(expr, "${__rate_interval}", r)
		expr = strings.ReplaceAll(expr, "$__rate_interval", r)
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	// Longest first, so $node does not eat $nodename.
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	for _, k := range names {
		expr = strings.ReplaceAll(expr, "${"+k+"}", vars[k])
		expr = strings.ReplaceAll(expr, "$"+k, vars[k])
	}
	return expr
}

func promDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// Outcome is one target's answers from one system.
type Outcome struct {
	Instant, Range []Sample // instant: one per series; range: the last point per series
	// Low, High: per series, the least and greatest value the target took
	// within two sampling intervals either side of the instant (a subquery
	// at 1 s steps; only for the reference system, so run at least two
	// intervals in the past), so a value sampled at another instant within
	// them agrees.
	Low, High []Sample
	Err       error
}

// HasData tells whether either query returned a series.
func (o Outcome) HasData() bool { return len(o.Instant) > 0 || len(o.Range) > 0 }

// runTargets runs every target as an instant query at now and a range
// query over [now−span, now] at step, on one system.
func runTargets(ctx context.Context, c *Client, targets []Target, vars map[string]string, rateInterval time.Duration,
	now time.Time, span, step time.Duration, band bool) []Outcome {
	out := make([]Outcome, len(targets))
	for i, t := range targets {
		q := Expand(t.Expr, vars, rateInterval)
		inst, err := c.Query(ctx, q, now)
		if err != nil {
			out[i].Err = err
			continue
		}
		rng, err := c.QueryRange(ctx, q, now.Add(-span), now, step)
		out[i] = Outcome{Instant: inst, Range: rng, Err: err}
		if band {
			sub := fmt.Sprintf("(%s)[%s:1s]", q, promDuration(4*step))
			out[i].Low, _ = c.Query(ctx, "min_over_time("+sub+")", now.Add(2*step))
			out[i].High, _ = c.Query(ctx, "max_over_time("+sub+")", now.Add(2*step))
		}
	}
	return out
}

// Identity labels the two systems set differently (and __name__, which
// min_over_time drops): the series are matched on the rest.
var identity = []string{"instance", "job", "site", "__name__"}

func key(labels map[string]string) string {
	ks := make([]string, 0, len(labels))
	for k, v := range labels {
		if !slices.Contains(identity, k) {
			ks = append(ks, k+"="+v)
		}
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

var shortRateRE = regexp.MustCompile(`(rate|increase|irate|deriv)\([^)]*\[(\d+)([smh])\]`)

// Tolerance is the relative difference above which a series' values
// disagree: 1 %, or 5 % for a rate over a window shorter than 5 minutes
// (two systems sampling at different instants see different increments).
func Tolerance(expr string) float64 {
	for _, m := range shortRateRE.FindAllStringSubmatch(expr, -1) {
		var n int
		fmt.Sscan(m[2], &n)
		d := time.Duration(n) * map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[m[3]]
		if d < 5*time.Minute {
			return 0.05
		}
	}
	return 0.01
}

// Mismatch is one series whose last values disagree.
type Mismatch struct {
	Target         Target
	Series         string
	Edge, Prom     float64
	PromLo, PromHi float64 // what Prometheus saw over its last two intervals
	Tolerance      float64
}

// Compare lists the series (matched without identity labels) present in
// both instant results whose values disagree: Edgepulse's value is
// further than the tolerance (relative; of expr with its rate interval
// expanded) from every value Prometheus's answer took within two scrape
// intervals either side of the instant. The two systems sample at different instants (the
// agent at each window's end, Prometheus at its own scrape phase), so a
// gauge that moved in between is not a disagreement; a value that
// neither saw is.
func Compare(t Target, edge, prom Outcome, rateInterval time.Duration) []Mismatch {
	type band struct{ last, lo, hi float64 }
	pm := map[string]*band{}
	for _, s := range prom.Instant {
		pm[key(s.Labels)] = &band{s.Value, s.Value, s.Value}
	}
	for _, s := range prom.Low {
		if b := pm[key(s.Labels)]; b != nil && s.Value < b.lo {
			b.lo = s.Value
		}
	}
	for _, s := range prom.High {
		if b := pm[key(s.Labels)]; b != nil && s.Value > b.hi {
			b.hi = s.Value
		}
	}
	tol := Tolerance(Expand(t.Expr, nil, rateInterval))
	var out []Mismatch
	for _, s := range edge.Instant {
		k := key(s.Labels)
		b, ok := pm[k]
		if !ok {
			continue
		}
		e := s.Value
		if math.IsNaN(e) && math.IsNaN(b.last) || e == b.last {
			continue
		}
		if e >= b.lo-tol*math.Abs(b.lo) && e <= b.hi+tol*math.Abs(b.hi) {
			continue
		}
		out = append(out, Mismatch{Target: t, Series: k, Edge: e, Prom: b.last, PromLo: b.lo, PromHi: b.hi, Tolerance: tol})
	}
	return out
}

// SelfMetric tells a target about the exporter process itself (the
// agent here, node_exporter there): its values describe different
// programs, so they are listed but not compared.
func SelfMetric(expr string) bool {
	return strings.Contains(expr, "process_") || strings.Contains(expr, "node_scrape_collector_duration_seconds")
}
