package query

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// appendResult writes the document encoding/json writes through promql's
// MarshalJSON methods (numbers compared as numbers: the two format some
// floats differently).
func TestAppendResultMatchesEncodingJSON(t *testing.T) {
	ls := labels.FromStrings("__name__", "node_load1", "instance", `h"1\`, "site", "sité", "z", "a\nb")
	values := []parser.Value{
		promql.Matrix{
			{Metric: ls, Floats: []promql.FPoint{{T: 1435781451781, F: 1.5}, {T: 1435781452000, F: math.NaN()}, {T: 1435781453007, F: math.Inf(1)},
				{T: 1435781454070, F: 1e-7}, {T: 1435781455000, F: -3e21}, {T: -1500, F: 0}}},
			{Metric: labels.EmptyLabels()},
		},
		promql.Matrix{},
		promql.Vector{{Metric: ls, T: 1000, F: math.Inf(-1)}, {Metric: labels.FromStrings("a", "b"), T: 2001, F: 42}},
		promql.Scalar{T: 1234, V: 0.25},
		promql.String{T: 99, V: "s\"x"},
	}
	for _, v := range values {
		for _, warns := range [][]string{nil, {"partial: region eu missing", "é\t"}} {
			got, ok := appendResult(nil, v, warns)
			if !ok {
				t.Fatalf("%T not written", v)
			}
			doc := map[string]any{"status": "success", "data": map[string]any{"resultType": v.Type(), "result": v}}
			if len(warns) > 0 {
				doc["warnings"] = warns
			}
			want, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("%T: %v in %s", v, err, got)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(numbers(g), numbers(w)) {
				t.Fatalf("%T:\n got %s\nwant %s", v, got, want)
			}
		}
	}
	// A native histogram is left to encoding/json.
	if _, ok := appendResult(nil, promql.Vector{{Metric: ls, H: nil}, {Metric: ls, H: &histogram.FloatHistogram{Count: 1}}}, nil); ok {
		t.Fatal("a histogram sample was written")
	}
}

// numbers turns every number and numeric string into a float64 (NaN into
// a marker), so two spellings of one value compare equal.
func numbers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = numbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = numbers(x)
		}
	case float64:
		return v
	case string:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			if math.IsNaN(f) {
				return "NaN"
			}
			return f
		}
	}
	return v
}

// BenchmarkResultEncoding: a host-scoped range result (4,500 series of 61
// points, {instance="h"} over 1 h at 1 min) written by appendResult and
// by encoding/json through promql's MarshalJSON methods.
func BenchmarkResultEncoding(b *testing.B) {
	m := make(promql.Matrix, 4500)
	for i := range m {
		m[i].Metric = labels.FromStrings("__name__", "node_metric_"+strconv.Itoa(i/10)+":avg", "instance", "h17", "site", "s17", "job", "node")
		for j := range 61 {
			m[i].Floats = append(m[i].Floats, promql.FPoint{T: 1765000000000 + int64(j)*60000, F: float64(i*j) * 1.37})
		}
	}
	b.Run("append", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendResult(buf[:0], m, nil)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding_json", func(b *testing.B) {
		var n int
		for b.Loop() {
			p, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": m.Type(), "result": m}})
			n = len(p)
		}
		b.SetBytes(int64(n))
	})
}
