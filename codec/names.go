package codec

// The one rule for series names and label names, shared by the
// aggregator's ingest validation and its query API so that a name the API
// accepts is one that can be stored and vice versa: Prometheus' charsets,
// with length caps so one hostile name cannot bloat every key it is part of.
const (
	MaxMetricNameLen = 256
	MaxLabelNameLen  = 128
)

// ValidMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]* and
// is at most MaxMetricNameLen bytes.
func ValidMetricName(s string) bool {
	if s == "" || len(s) > MaxMetricNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ValidLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and is
// at most MaxLabelNameLen bytes.
func ValidLabelName(s string) bool {
	if s == "" || len(s) > MaxLabelNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
