package detect

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

type csvRow struct {
	line, index int
	ts          string
	vals        []float64
}

func readAllCSV(t *testing.T, in string) (*CSVReader, []csvRow, error) {
	t.Helper()
	r, err := NewCSVReader(strings.NewReader(in), "in.csv")
	if err != nil {
		return nil, nil, err
	}
	var rows []csvRow
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, rows, nil
		}
		if err != nil {
			return r, rows, err
		}
		var ts string
		if row.Timestamp != nil {
			ts = string(row.Timestamp)
		}
		rows = append(rows, csvRow{row.Line, row.Index, ts, append([]float64(nil), row.Values...)})
	}
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestCSVReader(t *testing.T) {
	N := math.NaN()
	cases := []struct {
		name    string
		in      string
		header  bool
		ts      bool
		columns []string
		rows    []csvRow
	}{
		{"no header", "1,2\n3,4\n", false, false, []string{"col1", "col2"},
			[]csvRow{{1, 0, "", []float64{1, 2}}, {2, 1, "", []float64{3, 4}}}},
		{"header", "cpu,mem\n1,2\n", true, false, []string{"cpu", "mem"},
			[]csvRow{{2, 0, "", []float64{1, 2}}}},
		{"timestamp passthrough", "timestamp,cpu\n2024-01-01T00:00:00Z,5\n1700000000,6\n", true, true, []string{"cpu"},
			[]csvRow{{2, 0, "2024-01-01T00:00:00Z", []float64{5}}, {3, 1, "1700000000", []float64{6}}}},
		{"first column not named timestamp is a value", "t,cpu\n1,2\n", true, false, []string{"t", "cpu"},
			[]csvRow{{2, 0, "", []float64{1, 2}}}},
		{"CRLF", "a,b\r\n1,2\r\n3,4\r\n", true, false, []string{"a", "b"},
			[]csvRow{{2, 0, "", []float64{1, 2}}, {3, 1, "", []float64{3, 4}}}},
		{"missing cells", "a,b,c\n,NaN,1\n nan ,2,Inf\n", true, false, []string{"a", "b", "c"},
			[]csvRow{{2, 0, "", []float64{N, N, 1}}, {3, 1, "", []float64{N, 2, N}}}},
		{"missing first row stays data", ",1\n2,3\n", false, false, []string{"col1", "col2"},
			[]csvRow{{1, 0, "", []float64{N, 1}}, {2, 1, "", []float64{2, 3}}}},
		{"single column with blank = missing", "x\n1\n\n3\n", true, false, []string{"x"},
			[]csvRow{{2, 0, "", []float64{1}}, {3, 1, "", []float64{N}}, {4, 2, "", []float64{3}}}},
		{"blank lines skipped with several columns", "1,2\n\n3,4\n", false, false, []string{"col1", "col2"},
			[]csvRow{{1, 0, "", []float64{1, 2}}, {3, 1, "", []float64{3, 4}}}},
		{"no final newline", "1\n2", false, false, []string{"col1"},
			[]csvRow{{1, 0, "", []float64{1}}, {2, 1, "", []float64{2}}}},
		{"quoted header and values, BOM", "\xef\xbb\xbf\"a,b\",\"c\"\"d\"\n\"1\",2\n", true, false, []string{"a,b", `c"d`},
			[]csvRow{{2, 0, "", []float64{1, 2}}}},
		{"exponents and signs", "1e3,-2.5E-1,+4\n", false, false, []string{"col1", "col2", "col3"},
			[]csvRow{{1, 0, "", []float64{1000, -0.25, 4}}}},
		{"empty input", "", false, false, nil, nil},
		{"header only", "timestamp,a\n", true, true, []string{"a"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, rows, err := readAllCSV(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.HasHeader() != tc.header || r.HasTimestamp() != tc.ts || strings.Join(r.Columns(), "|") != strings.Join(tc.columns, "|") {
				t.Errorf("header %v ts %v columns %q", r.HasHeader(), r.HasTimestamp(), r.Columns())
			}
			if len(rows) != len(tc.rows) {
				t.Fatalf("rows %+v, want %+v", rows, tc.rows)
			}
			for i := range rows {
				g, w := rows[i], tc.rows[i]
				if g.line != w.line || g.index != w.index || g.ts != w.ts || !sameFloats(g.vals, w.vals) {
					t.Errorf("row %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestCSVReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		is   error
		msg  string // the full message must contain this
	}{
		{"bad number", "a,b\n1,2\n3,x7\n", ErrCSVNumber, `in.csv:3:2 (column "b"): not a number: "x7"`},
		{"bad number after timestamp", "timestamp,a,b\nT,1,oops\n", ErrCSVNumber, `in.csv:2:3 (column "b")`},
		{"too few fields", "a,b\n1,2\n3\n", ErrCSVFieldCount, "in.csv:3: wrong number of fields: 1 fields, want 2"},
		{"too many fields", "1,2\n3,4,5\n", ErrCSVFieldCount, "in.csv:2:"},
		{"unterminated quote", "a,b\n\"1,2\n", ErrCSVSyntax, `in.csv:2:6: malformed CSV: extraneous or missing " in quoted-field`},
		{"NUL byte", "a\n1\x00\n", ErrCSVSyntax, "in.csv:2:2: malformed CSV: NUL byte"},
		{"newline inside quotes", "a,b\n\"1\n2\",3\n", ErrCSVSyntax, "in.csv:2:1: malformed CSV: newline inside a quoted field"},
		{"text after quote", "a,b\n\"1\"x,2\n", ErrCSVSyntax, "in.csv:2:3"},
		{"duplicate column", "a,b,a\n1,2,3\n", ErrCSVHeader, `in.csv:1:3 (column "a")`},
		{"timestamp only", "timestamp\n1\n", ErrCSVNoColumns, "in.csv:1: no value columns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAllCSV(t, tc.in)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tc.is, tc.msg)
			}
			var ce *CSVError
			if !errors.As(err, &ce) || ce.File != "in.csv" {
				t.Errorf("err %T is not a *CSVError naming the file", err)
			}
		})
	}
}

func TestCSVReaderLongLines(t *testing.T) {
	// A row much wider than the 64 KiB read buffer parses.
	const cols = 10000
	wide := strings.TrimSuffix(strings.Repeat("123456.789,", cols), ",")
	_, rows, err := readAllCSV(t, wide+"\n"+wide+"\n")
	if err != nil || len(rows) != 2 || len(rows[1].vals) != cols || rows[1].vals[cols-1] != 123456.789 {
		t.Fatalf("wide rows: err %v, %d rows", err, len(rows))
	}
	// More columns than MaxCSVColumns, and a line over MaxCSVLine, fail.
	if _, _, err := readAllCSV(t, strings.Repeat("1,", MaxCSVColumns+1)+"1\n"); !errors.Is(err, ErrCSVSyntax) {
		t.Errorf("too many columns: err = %v", err)
	}
	huge := strings.Repeat("1", MaxCSVLine+10)
	if _, _, err := readAllCSV(t, "1\n"+huge+"\n"); !errors.Is(err, ErrCSVSyntax) || !strings.Contains(err.Error(), "in.csv:2") {
		t.Errorf("over-long line: err = %v", err)
	}
}
