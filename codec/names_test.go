package codec

import (
	"strings"
	"testing"
)

func TestValidNames(t *testing.T) {
	cases := []struct {
		s             string
		metric, label bool
	}{
		{"node_cpu_seconds_total", true, true},
		{"job:rate5m", true, false},
		{"_x", true, true},
		{"9lives", false, false},
		{"", false, false},
		{"a-b", false, false},
		{"ü", false, false},
		{strings.Repeat("a", MaxLabelNameLen), true, true},
		{strings.Repeat("a", MaxLabelNameLen+1), true, false},
		{strings.Repeat("a", MaxMetricNameLen), true, false},
		{strings.Repeat("a", MaxMetricNameLen+1), false, false},
	}
	for _, c := range cases {
		if got := ValidMetricName(c.s); got != c.metric {
			t.Errorf("ValidMetricName(%.20q…) = %v, want %v", c.s, got, c.metric)
		}
		if got := ValidLabelName(c.s); got != c.label {
			t.Errorf("ValidLabelName(%.20q…) = %v, want %v", c.s, got, c.label)
		}
	}
}
