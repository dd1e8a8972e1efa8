package preagg

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Config is the preagg section of aggregator.yaml. The zero value (no
// rules) turns pre-aggregation off.
type Config struct {
	// Rules are the aggregates to compute; at most 64.
	Rules []Rule `yaml:"rules"`
	// CloseShare is the share of the hosts a partition had in the previous
	// window whose frames close a window; default 0.95, range (0, 1].
	CloseShare float64 `yaml:"close_share"`
	// Deadline closes a window this long after its end whatever reported;
	// default 30s, range 1s–1h.
	Deadline time.Duration `yaml:"deadline"`
	// Late is how long after its end (or after its last write, if later)
	// a window's state is kept for late hosts; default 1h, range
	// Deadline–24h.
	Late time.Duration `yaml:"late"`
	// MaxGroups bounds the groups of one rule in one partition's window;
	// a host's contribution to groups beyond it is dropped and counted.
	// Default 10000, range 1–1000000.
	MaxGroups int `yaml:"max_groups"`
}

// Rule is one aggregate: Op over the Value of every series Select
// matches, grouped by By, written as series named Name.
type Rule struct {
	// Name of the output series; a Prometheus metric name without ':'.
	Name string `yaml:"name"`
	// Op is sum, min, max, count or avg.
	Op string `yaml:"op"`
	// Select is a series selector (node_cpu_seconds_total{mode!="idle"});
	// the matchers see the stored labels (site and instance included).
	Select string `yaml:"select"`
	// By are the grouping labels; "region" is the configured region name.
	By []string `yaml:"by"`
	// Value is the window statistic aggregated per series: avg (default;
	// for counters the mean per-second rate), last, min or max.
	Value string `yaml:"value"`

	matchers []*labels.Matcher
	metric   string // the selected metric name
}

// Ops are the rule operations.
var Ops = []string{"sum", "min", "max", "count", "avg"}

// Values are the per-series window statistics a rule aggregates.
var Values = []string{"avg", "last", "min", "max"}

var nameRe = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.CloseShare == 0 {
		c.CloseShare = 0.95
	}
	if c.Deadline == 0 {
		c.Deadline = 30 * time.Second
	}
	if c.Late == 0 {
		c.Late = time.Hour
	}
	if c.MaxGroups == 0 {
		c.MaxGroups = 10000
	}
	for i := range c.Rules {
		if c.Rules[i].Value == "" {
			c.Rules[i].Value = "avg"
		}
	}
	return c
}

// Validate checks c (defaults applied) and names the bad field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.Rules) > 64:
		return fmt.Errorf("preagg.rules: %d rules, at most 64", len(c.Rules))
	case c.CloseShare <= 0 || c.CloseShare > 1:
		return fmt.Errorf("preagg.close_share %g must be in (0, 1]", c.CloseShare)
	case c.Deadline < time.Second || c.Deadline > time.Hour:
		return fmt.Errorf("preagg.deadline %v must be between 1s and 1h", c.Deadline)
	case c.Late < c.Deadline || c.Late > 24*time.Hour:
		return fmt.Errorf("preagg.late %v must be between preagg.deadline (%v) and 24h", c.Late, c.Deadline)
	case c.MaxGroups < 1 || c.MaxGroups > 1_000_000:
		return fmt.Errorf("preagg.max_groups %d must be between 1 and 1000000", c.MaxGroups)
	}
	seen := map[string]bool{}
	for i := range c.Rules {
		if err := c.Rules[i].compile(); err != nil {
			return fmt.Errorf("preagg.rules[%d]: %w", i, err)
		}
		if seen[c.Rules[i].Name] {
			return fmt.Errorf("preagg.rules[%d].name %q is used by another rule", i, c.Rules[i].Name)
		}
		seen[c.Rules[i].Name] = true
	}
	return nil
}

// compile checks r and parses its selector.
func (r *Rule) compile() error {
	if r.Value == "" {
		r.Value = "avg"
	}
	switch {
	case !nameRe.MatchString(r.Name):
		return fmt.Errorf("name %q must match %s", r.Name, nameRe)
	case !slices.Contains(Ops, r.Op):
		return fmt.Errorf("op %q must be one of %v", r.Op, Ops)
	case !slices.Contains(Values, r.Value):
		return fmt.Errorf("value %q must be one of %v", r.Value, Values)
	case len(r.By) > 8:
		return fmt.Errorf("by: %d labels, at most 8", len(r.By))
	}
	for _, l := range r.By {
		if !nameRe.MatchString(l) || l == "instance" {
			return fmt.Errorf("by: %q is not a label name a rule can group by (instance is the partition of a partial)", l)
		}
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(r.Select)
	if err != nil {
		return fmt.Errorf("select %q: %w", r.Select, err)
	}
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			r.metric = m.Value
		}
	}
	if r.metric == "" {
		return fmt.Errorf("select %q must name one metric (name{…} or {__name__=\"name\"})", r.Select)
	}
	r.matchers = ms
	return nil
}
