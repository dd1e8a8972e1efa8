package detect

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
)

// FuzzCSVReader checks that no input panics, every error is a located
// *CSVError (or an I/O error), every row has one value per column, and
// values are finite or NaN. The seed corpus lives in
// testdata/fuzz/FuzzCSVReader.
func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("timestamp,a,b\n1,2,3\n"))
	f.Add([]byte("1,2\r\n,NaN\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewCSVReader(bytes.NewReader(in), "fuzz.csv")
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CSVError", err)
			}
			return
		}
		n := len(r.Columns())
		for i := 0; ; i++ {
			row, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var ce *CSVError
				if !errors.As(err, &ce) || ce.Line < 1 {
					t.Fatalf("error %v is not a located *CSVError", err)
				}
				return
			}
			if len(row.Values) != n || row.Index != i {
				t.Fatalf("row %d: %d values for %d columns, index %d", i, len(row.Values), n, row.Index)
			}
			for _, v := range row.Values {
				if math.IsInf(v, 0) {
					t.Fatalf("row %d: infinite value", i)
				}
			}
		}
	})
}
