package detect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"
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
type CSVReader struct {
	br      *bufio.Reader
	file    string
	line    int
	header  bool
	hasTS   bool
	columns []string
	nfields int
	index   int
	lineBuf []byte
	fields  [][]byte
	unq     []byte // unquoted copies of quoted fields
	row     CSVRow
	first   []byte // the first line when it is data, replayed by Next
	eof     bool
}

// NewCSVReader reads the first line of r to decide whether it is a header.
// file names the input in errors. An empty input is not an error: it has
// no columns and Next returns io.EOF.
func NewCSVReader(r io.Reader, file string) (*CSVReader, error) {
	c := &CSVReader{br: bufio.NewReaderSize(r, 64<<10), file: file}
	line, err := c.readLine()
	for err == nil && len(bytes.TrimSpace(line)) == 0 {
		line, err = c.readLine()
	}
	if err == io.EOF {
		c.eof = true
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	if err := c.split(line); err != nil {
		return nil, err
	}
	c.nfields = len(c.fields)
	if c.nfields > MaxCSVColumns {
		return nil, c.errf(0, fmt.Errorf("%w: %d columns, more than %d", ErrCSVSyntax, c.nfields, MaxCSVColumns))
	}
	for _, f := range c.fields {
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
		c.first = append([]byte(nil), line...)
		c.row.Values = make([]float64, c.nfields)
		return c, nil
	}
	names := make([]string, 0, c.nfields)
	for _, f := range c.fields {
		names = append(names, string(bytes.TrimSpace(f)))
	}
	if strings.EqualFold(names[0], "timestamp") {
		c.hasTS = true
		names = names[1:]
	}
	if len(names) == 0 {
		return nil, c.errf(0, ErrCSVNoColumns)
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
			return nil, &CSVError{File: file, Line: c.line, Column: col, Name: n,
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
	var line []byte
	lineNo := c.line
	if c.first != nil {
		line, c.first = c.first, nil
	} else {
		var err error
		for {
			line, err = c.readLine()
			if err == io.EOF {
				c.eof = true
				return nil, io.EOF
			}
			if err != nil {
				return nil, err
			}
			if len(bytes.TrimSpace(line)) > 0 {
				break
			}
			if c.nfields == 1 {
				// A blank line in a one-column file is a missing value.
				c.row.Line, c.row.Index, c.row.Timestamp = c.line, c.index, nil
				c.row.Values[0] = math.NaN()
				c.index++
				return &c.row, nil
			}
		}
		lineNo = c.line
	}
	if err := c.split(line); err != nil {
		return nil, err
	}
	if len(c.fields) != c.nfields {
		return nil, &CSVError{File: c.file, Line: lineNo,
			Err: fmt.Errorf("%w: %d fields, want %d", ErrCSVFieldCount, len(c.fields), c.nfields)}
	}
	c.row.Line, c.row.Index = lineNo, c.index
	fields := c.fields
	c.row.Timestamp = nil
	if c.hasTS {
		c.row.Timestamp = bytes.TrimSpace(fields[0])
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

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// parseCell parses a numeric cell; empty, NaN and ±Inf are missing (NaN).
func parseCell(f []byte) (float64, bool) {
	f = bytes.TrimSpace(f)
	if len(f) == 0 {
		return math.NaN(), true
	}
	// The string aliases f only for the call; on error it is not kept.
	v, err := strconv.ParseFloat(unsafe.String(&f[0], len(f)), 64)
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

func (c *CSVReader) errf(col int, err error) error {
	return &CSVError{File: c.file, Line: c.line, Column: col, Err: err}
}

// readLine returns the next line without its LF or CRLF; the slice is valid
// until the next call.
func (c *CSVReader) readLine() ([]byte, error) {
	b, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.lineBuf = append(c.lineBuf[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(c.lineBuf) > MaxCSVLine {
				c.line++
				return nil, c.errf(0, fmt.Errorf("%w: line longer than %d bytes", ErrCSVSyntax, MaxCSVLine))
			}
			b, err = c.br.ReadSlice('\n')
			c.lineBuf = append(c.lineBuf, b...)
		}
		b = c.lineBuf
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: read: %w", c.file, err)
	}
	if err == io.EOF && len(b) == 0 {
		return nil, io.EOF
	}
	c.line++
	if len(b) > MaxCSVLine {
		return nil, c.errf(0, fmt.Errorf("%w: line longer than %d bytes", ErrCSVSyntax, MaxCSVLine))
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	return b, nil
}

// split cuts line into c.fields, unquoting quoted fields.
func (c *CSVReader) split(line []byte) error {
	c.fields = c.fields[:0]
	c.unq = c.unq[:0]
	// Quoted fields are unquoted into c.unq; record offsets first because
	// appending may move c.unq.
	type span struct {
		quoted bool
		a, b   int
	}
	var spans [64]span
	sp := spans[:0]
	i := 0
	for {
		if len(sp) >= MaxCSVColumns+1 {
			return c.errf(0, fmt.Errorf("%w: more than %d columns", ErrCSVSyntax, MaxCSVColumns))
		}
		// Skip leading spaces before a quote.
		j := i
		for j < len(line) && line[j] == ' ' {
			j++
		}
		if j < len(line) && line[j] == '"' {
			start := len(c.unq)
			k := j + 1
			closed := false
			for k < len(line) {
				if line[k] == '"' {
					if k+1 < len(line) && line[k+1] == '"' {
						c.unq = append(c.unq, '"')
						k += 2
						continue
					}
					closed = true
					k++
					break
				}
				c.unq = append(c.unq, line[k])
				k++
			}
			if !closed {
				return c.errf(j+1, fmt.Errorf("%w: unterminated quoted field", ErrCSVSyntax))
			}
			for k < len(line) && line[k] == ' ' {
				k++
			}
			if k < len(line) && line[k] != ',' {
				return c.errf(k+1, fmt.Errorf("%w: text after closing quote", ErrCSVSyntax))
			}
			sp = append(sp, span{true, start, len(c.unq)})
			if k >= len(line) {
				break
			}
			i = k + 1
			continue
		}
		k := bytes.IndexByte(line[i:], ',')
		if k < 0 {
			sp = append(sp, span{false, i, len(line)})
			break
		}
		sp = append(sp, span{false, i, i + k})
		i += k + 1
	}
	for _, s := range sp {
		if s.quoted {
			c.fields = append(c.fields, c.unq[s.a:s.b])
		} else {
			c.fields = append(c.fields, line[s.a:s.b])
		}
	}
	return nil
}
