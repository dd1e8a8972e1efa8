package detect

import (
	"strings"
	"testing"
	"time"
)

func TestParseRules(t *testing.T) {
	rs, err := ParseRules([]byte(`
rules:
  - name: cpu_busy
    series: cpu_busy_percent
    op: ">"
    threshold: 90
    clear: 85
    for: 60s
  - name: fs_full
    series: fs_used_percent
    op: ">"
    threshold: 85
  - name: mem_low
    series: mem_available_percent
    op: "<"
    threshold: 5
    for: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 3 || rs.Rules[0].For != time.Minute || *rs.Rules[0].Clear != 85 || rs.Rules[1].Clear != nil {
		t.Fatalf("parsed %+v", rs.Rules)
	}
}

func TestParseRulesErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"missing name", `rules: [{series: a, op: ">", threshold: 1}]`, "rules[0].name"},
		{"missing series", `rules: [{name: a, op: ">", threshold: 1}]`, "rules[0].series"},
		{"bad op", `rules: [{name: a, series: a, op: "=>", threshold: 1}]`, "rules[0].op"},
		{"clear above threshold", `rules: [{name: a, series: a, op: ">", threshold: 90, clear: 95}]`, "rules[0].clear"},
		{"clear below threshold for <", `rules: [{name: a, series: a, op: "<", threshold: 5, clear: 3}]`, "rules[0].clear"},
		{"negative for", `rules: [{name: a, series: a, op: ">", threshold: 1, for: -5s}]`, "rules[0].for"},
		{"bad duration", `rules: [{name: a, series: a, op: ">", threshold: 1, for: soon}]`, "soon"},
		{"duplicate name", `rules: [{name: a, series: a, op: ">", threshold: 1}, {name: a, series: b, op: "<", threshold: 1}]`, "rules[1].name"},
		{"unknown field", `rules: [{name: a, series: a, op: ">", threshold: 1, treshold: 2}]`, "treshold"},
		{"not yaml", `rules: [`, "parse rules"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRuleState(t *testing.T) {
	f85 := 85.0
	f7 := 7.0
	cases := []struct {
		name   string
		rule   Rule
		values []float64 // one per second
		want   string    // '1' firing, '0' not, per sample
	}{
		{"fires after for, not before",
			Rule{Op: OpGT, Threshold: 90, For: 3 * time.Second},
			[]float64{95, 95, 95, 95, 95}, "00011"},
		{"a dip restarts the for clock",
			Rule{Op: OpGT, Threshold: 90, For: 2 * time.Second},
			[]float64{95, 95, 80, 95, 95, 95}, "000001"},
		{"hysteresis keeps firing above clear",
			Rule{Op: OpGT, Threshold: 90, Clear: &f85},
			[]float64{95, 88, 86, 85, 95, 84}, "111010"},
		{"no clear: clears when condition fails",
			Rule{Op: OpGT, Threshold: 90},
			[]float64{95, 90, 91}, "101"},
		{">= includes the threshold",
			Rule{Op: OpGE, Threshold: 90},
			[]float64{90, 89.9}, "10"},
		{"< with hysteresis (memory low)",
			Rule{Op: OpLT, Threshold: 5, Clear: &f7, For: time.Second},
			[]float64{4, 4, 6, 6.9, 7, 3}, "011100"},
		{"missing values change nothing",
			Rule{Op: OpGT, Threshold: 1},
			[]float64{2, nan(), nan(), 0}, "1110"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.Name, r.Series = "r", "s"
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			st := NewRuleState(&r)
			var got strings.Builder
			for i, v := range tc.values {
				if st.Push(time.Duration(i)*time.Second, v) == 1 {
					got.WriteByte('1')
				} else {
					got.WriteByte('0')
				}
			}
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got.String(), tc.want)
			}
		})
	}
}
