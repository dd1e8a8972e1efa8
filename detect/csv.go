package detect

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Errors a [CSVReader] wraps in a [*CSVError]; branch on them with
// errors.Is.
var (
	// ErrCSVSyntax is a malformed line: bad quoting or an over-long line.
	ErrCSVSyntax = errors.New("malformed CSV")
	// ErrCSVFieldCount is a row whose field count differs from the first
	// row's.
	ErrCSVFieldCount = errors.New("wrong number of fields")
	// ErrCSVNumber is a cell that is neither a number, empty nor NaN.
	ErrCSVNumber = errors.New("not a number")
	// ErrCSVNoColumns is a header naming no value column.
	ErrCSVNoColumns = errors.New("no value columns")
	// ErrCSVHeader is an invalid header (duplicate column name).
	ErrCSVHeader = errors.New("invalid header")
)

// CSVError locates an error in a CSV input: file name, 1-based line and
// 1-based column (0 when the whole line is at fault).
type CSVError struct {
	File   string
	Line   int
	Column int
	// Name is the column's name when known.
	Name string
	Err  error
}

func (e *CSVError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	if e.Column > 0 {
		fmt.Fprintf(&b, ":%d", e.Column)
		if e.Name != "" {
			fmt.Fprintf(&b, " (column %q)", e.Name)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *CSVError) Unwrap() error { return e.Err }

// Limits of the CSV reader, so hostile input cannot exhaust memory.
const (
	MaxCSVLine    = 1 << 20
	MaxCSVColumns = 1 << 14
)

// CSVRow is one data row. Timestamp and Values are reused by the next call
// to Next.
type CSVRow struct {
	// Line is the 1-based line number in the input.
	Line int
	// Index is the 0-based data row index.
	Index int
	// Timestamp is the raw `timestamp` cell when the input has a timestamp
	// column, else nil.
	Timestamp []byte
	// Values are the value cells; missing cells (empty, NaN, ±Inf) are NaN.
	Values []float64
}

// CSVReader reads the scoring CLI's input format, streaming one row at a
// time: comma-separated, LF or CRLF line ends, optional RFC 4180 quoting
// (no newlines inside quotes), an optional header row (present when any
// cell of the first row is neither a number, empty nor NaN). If the
// header's first column is named `timestamp` (any case), that column is
// passed through as text; every other column is numeric. A blank line is a
// row of missing values when there is exactly one value column and no
// timestamp column, and is skipped otherwise.
//
// The parsing is encoding/csv's; what it adds is the format's rules above,
// the limits (MaxCSVLine, MaxCSVColumns) and errors that name file, line,
// column and column name.
type CSVReader struct {
	cr      *csv.Reader
	lines   *csvLines
	file    string
	header  bool
	hasTS   bool
	columns []string
	nfields int
	index   int
	row     CSVRow
	first   []string // the first record when it is data, replayed by Next
	line0   int      // its line
	eof     bool
}

// blankLine is what csvLines turns a blank (or all-space) line into, so
// that encoding/csv, which skips empty lines, returns it as a record of
// this one field; a NUL byte never occurs in accepted input.
const blankLine = "\x00"

// NewCSVReader reads the first line of r to decide whether it is a header.
// file names the input in errors. An empty input is not an error: it has
// no columns and Next returns io.EOF.
func NewCSVReader(r io.Reader, file string) (*CSVReader, error) {
	c := &CSVReader{file: file}
	c.lines = &csvLines{br: bufio.NewReaderSize(r, 64<<10), file: file}
	c.cr = csv.NewReader(c.lines)
	c.cr.FieldsPerRecord = -1 // checked here, to name the line and the count
	c.cr.ReuseRecord = true
	c.cr.TrimLeadingSpace = true
	var rec []string
	var err error
	for {
		rec, err = c.read()
		if err == io.EOF {
			c.eof = true
			return c, nil
		}
		if err != nil {
			return nil, err
		}
		if !isBlank(rec) {
			break
		}
	}
	c.line0, _ = c.cr.FieldPos(0)
	c.nfields = len(rec)
	if c.nfields > MaxCSVColumns {
		return nil, c.errf(c.line0, 0, fmt.Errorf("%w: %d columns, more than %d", ErrCSVSyntax, c.nfields, MaxCSVColumns))
	}
	for _, f := range rec {
		if _, ok := parseCell(f); !ok {
			c.header = true
			break
		}
	}
	if !c.header {
		c.columns = make([]string, c.nfields)
		for i := range c.columns {
			c.columns[i] = "col" + strconv.Itoa(i+1)
		}
		c.first = append([]string(nil), rec...)
		c.row.Values = make([]float64, c.nfields)
		return c, nil
	}
	names := make([]string, 0, c.nfields)
	for _, f := range rec {
		names = append(names, strings.TrimSpace(f))
	}
	if strings.EqualFold(names[0], "timestamp") {
		c.hasTS = true
		names = names[1:]
	}
	if len(names) == 0 {
		return nil, c.errf(c.line0, 0, ErrCSVNoColumns)
	}
	seen := make(map[string]int, len(names))
	for i, n := range names {
		col := i + 1
		if c.hasTS {
			col++
		}
		if n == "" {
			n = "col" + strconv.Itoa(col)
			names[i] = n
		}
		if j, dup := seen[n]; dup {
			return nil, &CSVError{File: file, Line: c.line0, Column: col, Name: n,
				Err: fmt.Errorf("%w: duplicate column name (also column %d)", ErrCSVHeader, j)}
		}
		seen[n] = col
	}
	c.columns = names
	c.row.Values = make([]float64, len(names))
	return c, nil
}

// Columns returns the value columns' names: from the header, or col1..colN.
func (c *CSVReader) Columns() []string { return c.columns }

// HasHeader reports whether the first line was a header.
func (c *CSVReader) HasHeader() bool { return c.header }

// HasTimestamp reports whether the first column is a passed-through
// timestamp.
func (c *CSVReader) HasTimestamp() bool { return c.hasTS }

// Next returns the next data row, or io.EOF after the last. Errors are
// [*CSVError]s naming file, line and column.
func (c *CSVReader) Next() (*CSVRow, error) {
	if c.eof {
		return nil, io.EOF
	}
	var rec []string
	var lineNo int
	if c.first != nil {
		rec, c.first, lineNo = c.first, nil, c.line0
	} else {
		for {
			var err error
			rec, err = c.read()
			if err == io.EOF {
				c.eof = true
				return nil, io.EOF
			}
			if err != nil {
				return nil, err
			}
			lineNo, _ = c.cr.FieldPos(0)
			if !isBlank(rec) {
				break
			}
			if c.nfields == 1 && !c.hasTS {
				// A blank line in a one-column file is a missing value.
				c.row.Line, c.row.Index, c.row.Timestamp = lineNo, c.index, nil
				c.row.Values[0] = math.NaN()
				c.index++
				return &c.row, nil
			}
		}
	}
	if len(rec) != c.nfields {
		return nil, &CSVError{File: c.file, Line: lineNo,
			Err: fmt.Errorf("%w: %d fields, want %d", ErrCSVFieldCount, len(rec), c.nfields)}
	}
	c.row.Line, c.row.Index = lineNo, c.index
	fields := rec
	c.row.Timestamp = nil
	if c.hasTS {
		c.row.Timestamp = append(c.row.Timestamp[:0:0], strings.TrimSpace(fields[0])...)
		fields = fields[1:]
	}
	for i, f := range fields {
		v, ok := parseCell(f)
		if !ok {
			col := i + 1
			if c.hasTS {
				col++
			}
			return nil, &CSVError{File: c.file, Line: lineNo, Column: col, Name: c.columns[i],
				Err: fmt.Errorf("%w: %q", ErrCSVNumber, truncate(f, 40))}
		}
		c.row.Values[i] = v
	}
	c.index++
	return &c.row, nil
}

// read returns encoding/csv's next record, its errors located and wrapped
// in ErrCSVSyntax.
func (c *CSVReader) read() ([]string, error) {
	rec, err := c.cr.Read()
	if err == nil {
		if len(rec) > MaxCSVColumns {
			line, _ := c.cr.FieldPos(0)
			return nil, c.errf(line, 0, fmt.Errorf("%w: more than %d columns", ErrCSVSyntax, MaxCSVColumns))
		}
		for i, f := range rec {
			if strings.IndexByte(f, '\n') >= 0 {
				line, col := c.cr.FieldPos(i)
				return nil, c.errf(line, col, fmt.Errorf("%w: newline inside a quoted field", ErrCSVSyntax))
			}
		}
		return rec, nil
	}
	if c.lines.err != nil {
		return nil, c.lines.err // over-long line or NUL byte, located by csvLines
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, c.errf(pe.StartLine, pe.Column, fmt.Errorf("%w: %v", ErrCSVSyntax, pe.Err))
	}
	return nil, err
}

func isBlank(rec []string) bool { return len(rec) == 1 && rec[0] == blankLine }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// parseCell parses a numeric cell; empty, NaN and ±Inf are missing (NaN).
func parseCell(f string) (float64, bool) {
	f = strings.TrimSpace(f)
	if len(f) == 0 {
		return math.NaN(), true
	}
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return math.NaN(), true // overflow: ±Inf, treated as missing
		}
		return 0, false
	}
	if math.IsInf(v, 0) {
		return math.NaN(), true
	}
	return v, true
}

func (c *CSVReader) errf(line, col int, err error) error {
	return &CSVError{File: c.file, Line: line, Column: col, Err: err}
}

// csvLines feeds encoding/csv line by line: it bounds a line's length
// (MaxCSVLine, so hostile input cannot grow a record without limit),
// refuses NUL bytes, and turns a blank or all-space line into blankLine so
// the reader sees it (a missing value in a one-column file) while line
// numbers stay those of the input. The first error stops the stream and
// is kept in err, located.
type csvLines struct {
	br      *bufio.Reader
	file    string
	line    int
	pending []byte
	buf     []byte
	err     error
}

func (l *csvLines) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		b, err := l.readLine()
		if err != nil {
			if err != io.EOF {
				l.err = err
			}
			return 0, err
		}
		l.pending = b
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// readLine returns the next line with its LF (the last line may lack one).
func (l *csvLines) readLine() ([]byte, error) {
	b, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.buf = append(l.buf[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(l.buf) > MaxCSVLine {
				l.line++
				return nil, l.errf(fmt.Errorf("%w: line longer than %d bytes", ErrCSVSyntax, MaxCSVLine))
			}
			b, err = l.br.ReadSlice('\n')
			l.buf = append(l.buf, b...)
		}
		b = l.buf
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: read: %w", l.file, err)
	}
	if err == io.EOF && len(b) == 0 {
		return nil, io.EOF
	}
	l.line++
	if l.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	}
	if len(b) > MaxCSVLine {
		return nil, l.errf(fmt.Errorf("%w: line longer than %d bytes", ErrCSVSyntax, MaxCSVLine))
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, &CSVError{File: l.file, Line: l.line, Column: i + 1, Err: fmt.Errorf("%w: NUL byte", ErrCSVSyntax)}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte(blankLine + "\n"), nil
	}
	return b, nil
}

func (l *csvLines) errf(err error) error {
	return &CSVError{File: l.file, Line: l.line, Err: err}
}
