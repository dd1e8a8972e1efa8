package collect

import (
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Tokenizing helpers shared by the parsers. They slice their input and
// never allocate, so parsers stay allocation-free on the steady path.

// nextLine splits b at the first newline: line excludes it.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// nextField returns the first whitespace-separated field of b and what
// follows it. f is empty when b holds only whitespace.
func nextField(b []byte) (f, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	return b[i:j], b[j:]
}

var errNumber = errors.New("not a number")

// parseNum parses a decimal number: integers (the common case in /proc)
// without allocating, anything else through strconv.ParseFloat.
func parseNum(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, errNumber
	}
	neg := b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) > 0 && len(d) <= 19 {
		var u uint64
		ok := true
		for _, c := range d {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			u = u*10 + uint64(c-'0')
		}
		if ok {
			if neg {
				return -float64(u), nil
			}
			return float64(u), nil
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, errNumber
	}
	return v, nil
}

// parseInt parses a small non-negative decimal integer (a pid, a cpu
// number); ok is false for anything else.
func parseInt(b []byte) (n int, ok bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// numError describes a field that is not a number, naming the line.
func numError(line int, what, field []byte) error {
	return &parseError{line: line, msg: "field " + strconv.Quote(string(what)) + ": " + strconv.Quote(string(field)) + " is not a number"}
}

// malformed describes a line that does not have the expected shape.
func malformed(line int, text []byte) error {
	return &parseError{line: line, msg: "malformed " + strconv.Quote(string(text))}
}

type parseError struct {
	line int
	msg  string
}

func (e *parseError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.msg }

func quote(b []byte) string { return strconv.Quote(string(b)) }

func itoa(n int) string { return strconv.Itoa(n) }

// eachLine calls fn for every line of r that has a first field, with the
// line's 1-based number, the whole line, its first field and the rest.
// Blank lines are skipped; the first error fn returns stops the walk.
func eachLine(r io.Reader, fn func(n int, line, first, rest []byte) error) error {
	b, err := readAll(r)
	if err != nil {
		return err
	}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		first, rest := nextField(line)
		if len(first) == 0 {
			continue
		}
		if err := fn(n, line, first, rest); err != nil {
			return err
		}
	}
	return nil
}
