package detectcli

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/detect"
)

// Exit codes returned by Run.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

const usage = `usage: edgepulse-agent detect --in FILE [--out FILE] [--train FILE] [--config FILE] [--per-column]

Scores each row of a CSV file for anomalies in one streaming pass and writes
"timestamp,anomaly_score" rows (scores in [0, 1]). "-" means stdin/stdout.

`

// options are the parsed flags.
type options struct {
	in, out, train, config string
	perColumn              bool
}

// Run executes the detect command with args (without the command name) and
// returns the exit code. Diagnostics go to stderr.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.in, "in", "", "input CSV to score (`-` for stdin); required")
	fs.StringVar(&o.out, "out", "-", "output CSV (`-` for stdout)")
	fs.StringVar(&o.train, "train", "", "optional CSV of normal data to learn from before scoring")
	fs.StringVar(&o.config, "config", "", "optional detect YAML config (detect.Config)")
	fs.BoolVar(&o.perColumn, "per-column", false, "add one score column per input column")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "detect: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return ExitUsage
	}
	if o.in == "" {
		fmt.Fprintln(stderr, "detect: --in is required")
		fs.Usage()
		return ExitUsage
	}
	if o.in == "-" && o.train == "-" {
		fmt.Fprintln(stderr, "detect: --in and --train cannot both be stdin")
		return ExitUsage
	}
	if err := run(o, stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "detect: %v\n", err)
		return ExitError
	}
	return ExitOK
}

func run(o options, stdin io.Reader, stdout io.Writer) (err error) {
	cfg := detect.DefaultConfig()
	if o.config != "" {
		b, err := os.ReadFile(o.config)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if cfg, err = detect.LoadConfig(b); err != nil {
			return fmt.Errorf("%s: %w", o.config, err)
		}
	}
	in, inName, closeIn, err := openIn(o.in, stdin)
	if err != nil {
		return err
	}
	defer closeIn()
	inCSV, err := detect.NewCSVReader(in, inName)
	if err != nil {
		return err
	}
	columns := inCSV.Columns()

	out, commit, err := openOut(o.out, stdout)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := commit(err == nil); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(out, 64<<10)
	writeHeader(w, columns, o.perColumn)
	if len(columns) == 0 { // empty input: header only
		return w.Flush()
	}

	sc, err := detect.NewScorer(cfg, columns)
	if err != nil {
		if o.config != "" {
			return fmt.Errorf("%s: %w", o.config, err)
		}
		return err
	}
	var t time.Duration
	if o.train != "" {
		if t, err = train(sc, o.train, stdin, columns, inCSV.HasHeader(), cfg.SampleInterval); err != nil {
			return err
		}
	}
	if cfg.SampleInterval == 0 {
		cfg.SampleInterval = time.Second
	}
	buf := make([]byte, 0, 64)
	for {
		row, err := inCSV.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		s := sc.Score(t, row.Values)
		t += cfg.SampleInterval
		buf = buf[:0]
		if row.Timestamp != nil {
			buf = appendField(buf, row.Timestamp)
		} else {
			buf = strconv.AppendInt(buf, int64(row.Index), 10)
		}
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s, 'f', 6, 64)
		if o.perColumn {
			for _, v := range sc.ColumnScores() {
				buf = append(buf, ',')
				buf = strconv.AppendFloat(buf, v, 'f', 6, 64)
			}
		}
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("%s: write: %w", outName(o.out), err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("%s: write: %w", outName(o.out), err)
	}
	return nil
}

// train feeds every row of the training file to sc and returns the clock
// after the last row.
func train(sc *detect.Scorer, path string, stdin io.Reader, columns []string, inHeader bool, step time.Duration) (time.Duration, error) {
	if step == 0 {
		step = time.Second
	}
	r, name, closeR, err := openIn(path, stdin)
	if err != nil {
		return 0, err
	}
	defer closeR()
	tr, err := detect.NewCSVReader(r, name)
	if err != nil {
		return 0, err
	}
	tc := tr.Columns()
	if len(tc) == 0 {
		return 0, nil // empty training file: learn online from the start
	}
	if len(tc) != len(columns) {
		return 0, fmt.Errorf("%s: %d value columns, but the input has %d", name, len(tc), len(columns))
	}
	if tr.HasHeader() && inHeader {
		for i := range tc {
			if tc[i] != columns[i] {
				return 0, fmt.Errorf("%s: value column %d is %q, but the input's is %q", name, i+1, tc[i], columns[i])
			}
		}
	}
	var t time.Duration
	for {
		row, err := tr.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return 0, err
		}
		sc.Train(t, row.Values)
		t += step
	}
}

func writeHeader(w *bufio.Writer, columns []string, perColumn bool) {
	w.WriteString("timestamp,anomaly_score")
	if perColumn {
		for _, c := range columns {
			w.WriteByte(',')
			w.Write(appendField(nil, []byte("score_"+c)))
		}
	}
	w.WriteByte('\n')
}

// appendField appends f, quoted if it holds a comma, quote or line break.
func appendField(dst, f []byte) []byte {
	if !strings.ContainsAny(string(f), ",\"\r\n") {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for _, c := range f {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

func openIn(path string, stdin io.Reader) (io.Reader, string, func(), error) {
	if path == "-" {
		return stdin, "<stdin>", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err // *PathError names the file
	}
	return f, path, func() { f.Close() }, nil
}

func outName(path string) string {
	if path == "-" {
		return "<stdout>"
	}
	return path
}

// openOut opens the output; commit(ok) closes it. A regular file is
// written under a temporary name in the same directory and renamed into
// place only on success, so an error never leaves a partial file (nor
// clobbers the previous one). Anything else — a pipe, /dev/stdout,
// /dev/null — is written directly and never removed.
func openOut(path string, stdout io.Writer) (io.Writer, func(ok bool) error, error) {
	if path == "-" {
		return stdout, func(bool) error { return nil }, nil
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, nil, err
		}
		return f, func(bool) error { return f.Close() }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, nil, err
	}
	return f, func(ok bool) error {
		cerr := f.Close()
		if !ok || cerr != nil {
			os.Remove(f.Name())
			if cerr != nil && ok {
				return fmt.Errorf("%s: close: %w", path, cerr)
			}
			return nil
		}
		if err := os.Chmod(f.Name(), 0o644); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}, nil
}
