package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unsafe"

	"go.yaml.in/yaml/v3"
)

// Op is a rule's comparison.
type Op string

// The comparisons a [Rule] can use.
const (
	OpGT Op = ">"
	OpGE Op = ">="
	OpLT Op = "<"
	OpLE Op = "<="
)

// Rule is one threshold rule: the series named Series fires once
// `value Op Threshold` has held for For; a firing rule clears only when the
// value crosses Clear (hysteresis), e.g.
//
//   - name: cpu_busy
//     series: cpu_busy_percent
//     op: ">"
//     threshold: 90
//     clear: 85
//     for: 60s
type Rule struct {
	// Name identifies the rule in errors and events.
	Name string `yaml:"name"`
	// Series is the exact name of the series (CSV column) the rule watches.
	Series string `yaml:"series"`
	// Op is one of ">", ">=", "<", "<=".
	Op Op `yaml:"op"`
	// Threshold is the value compared against.
	Threshold float64 `yaml:"threshold"`
	// Clear is the hysteresis level: a firing rule clears once
	// `value Op Clear` no longer holds (for ">" with clear 85: at 85 or
	// below). Nil means Clear = Threshold (no hysteresis).
	Clear *float64 `yaml:"clear"`
	// For is how long the condition must hold before the rule fires;
	// 0 fires on the first sample.
	For time.Duration `yaml:"for"`
}

// RuleSet is a list of rules as loaded from YAML under the key `rules`.
type RuleSet struct {
	Rules []Rule `yaml:"rules"`
}

// ParseRules parses and validates a YAML document holding `rules:`.
// Unknown fields are errors, so a typo cannot silently disable a rule.
func ParseRules(b []byte) (RuleSet, error) {
	var rs RuleSet
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rs); err != nil && !errors.Is(err, io.EOF) {
		return RuleSet{}, fmt.Errorf("detect: parse rules: %w", err)
	}
	if err := rs.Validate(); err != nil {
		return RuleSet{}, err
	}
	return rs, nil
}

// Validate reports the first invalid rule field as rules[i].field.
func (rs RuleSet) Validate() error {
	names := make(map[string]int, len(rs.Rules))
	for i, r := range rs.Rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rules[%d].%w", i, err)
		}
		if j, dup := names[r.Name]; dup {
			return fmt.Errorf("rules[%d].name: %q already used by rules[%d]", i, r.Name, j)
		}
		names[r.Name] = i
	}
	return nil
}

// Validate reports the first invalid field, by its YAML name.
func (r Rule) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case r.Name == "":
		return errors.New("name: must not be empty")
	case r.Series == "":
		return errors.New("series: must not be empty")
	case r.Op != OpGT && r.Op != OpGE && r.Op != OpLT && r.Op != OpLE:
		return fmt.Errorf("op: %q is not one of \">\", \">=\", \"<\", \"<=\"", r.Op)
	case !finite(r.Threshold):
		return fmt.Errorf("threshold: %v must be finite", r.Threshold)
	case r.For < 0 || r.For > 30*24*time.Hour:
		return fmt.Errorf("for: %v out of range [0, 720h]", r.For)
	}
	if r.Clear != nil {
		c := *r.Clear
		switch {
		case !finite(c):
			return fmt.Errorf("clear: %v must be finite", c)
		case (r.Op == OpGT || r.Op == OpGE) && c > r.Threshold:
			return fmt.Errorf("clear: %v must be <= threshold %v for op %q", c, r.Threshold, r.Op)
		case (r.Op == OpLT || r.Op == OpLE) && c < r.Threshold:
			return fmt.Errorf("clear: %v must be >= threshold %v for op %q", c, r.Threshold, r.Op)
		}
	}
	return nil
}

// RuleState evaluates one [Rule] on one series. It scores 1 while the rule
// fires and 0 otherwise.
//
// State per series: 32 bytes (the struct; the Rule is shared). Cost per
// sample: O(1), two comparisons.
type RuleState struct {
	rule    *Rule
	clear   float64
	since   time.Duration
	pending bool
	firing  bool
}

// NewRuleState returns the evaluation state of r, which must be valid and
// must not change while the state is in use.
func NewRuleState(r *Rule) RuleState {
	c := r.Threshold
	if r.Clear != nil {
		c = *r.Clear
	}
	return RuleState{rule: r, clear: c}
}

// Push evaluates the rule on x observed at time t (any monotonic clock) and
// returns 1 while firing, else 0. NaN is missing and changes nothing.
func (s *RuleState) Push(t time.Duration, x float64) float64 {
	if math.IsNaN(x) {
		return s.Score()
	}
	r := s.rule
	if s.firing {
		if !compare(r.Op, x, s.clear) {
			s.firing, s.pending = false, false
		}
		return s.Score()
	}
	cond := compare(r.Op, x, r.Threshold)
	switch {
	case !cond:
		s.pending = false
	case !s.pending:
		s.pending, s.since = true, t
	}
	if s.pending && t-s.since >= r.For {
		s.firing = true
	}
	return s.Score()
}

// Score is 1 while the rule fires, else 0.
func (s *RuleState) Score() float64 {
	if s.firing {
		return 1
	}
	return 0
}

// Firing reports whether the rule fires.
func (s *RuleState) Firing() bool { return s.firing }

// Rule returns the rule evaluated.
func (s *RuleState) Rule() *Rule { return s.rule }

// compare evaluates x op v.
func compare(op Op, x, v float64) bool {
	switch op {
	case OpGT:
		return x > v
	case OpGE:
		return x >= v
	case OpLT:
		return x < v
	case OpLE:
		return x <= v
	}
	return false
}

// Footprint reports the state size and cost per sample.
func (s *RuleState) Footprint() Footprint {
	return Footprint{StateBytes: int(unsafe.Sizeof(*s)), PerSample: "O(1): 2 comparisons"}
}
