package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/detect"
)

// minutesPerSample is ASD's sampling period.
const minutesPerSample = 5

type flags struct {
	data     string
	config   string
	quantile float64
	skip     int
	window   int
	minStd   float64
	servers  int
	sweep    bool
	keep     string
	bin      string
	binArgs  []string
	tune     bool
}

func main() {
	var f flags
	flag.StringVar(&f.data, "data", "/work/shared/data/asd", "directory with omi-N_{train,test,test_label}.csv")
	flag.StringVar(&f.config, "config", "testbench/evaldetect/detect.yaml", "detect config passed to the CLI (--config)")
	flag.Float64Var(&f.quantile, "quantile", 0.99, "threshold = this quantile of the online scores on the training file")
	flag.IntVar(&f.skip, "skip", 2000, "training rows ignored when taking the quantile (warm-up)")
	flag.IntVar(&f.window, "window", 288, "baseline window in samples (288 = one day)")
	flag.Float64Var(&f.minStd, "baseline-min-std", 0.01, "baseline standard-deviation floor (the data's quantum)")
	flag.IntVar(&f.servers, "servers", 12, "evaluate omi-1 .. omi-N")
	flag.BoolVar(&f.sweep, "sweep", false, "also print the baseline for several windows")
	flag.StringVar(&f.keep, "keep", "", "keep the CLI's score files in this directory")
	flag.StringVar(&f.bin, "bin", "", "scoring command to exec, e.g. \"edgepulse-agent detect\"; default: build edge/internal/detectcli/cmd/edgepulse-detect")
	flag.BoolVar(&f.tune, "tune", false, "tuning mode: score synthetic anomalies injected into held-out training rows; reads no test file or label")
	flag.Parse()
	if err := run(f, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "evaldetect:", err)
		os.Exit(1)
	}
}

// metrics are the figures for one method on one or more servers.
type metrics struct {
	tp, fp, fn  int
	segs, found int
	delaySum    int // samples, over found segments
	falseAlarms int
	days        float64
	threshold   float64 // per-server only
}

func (m *metrics) add(o metrics) {
	m.tp += o.tp
	m.fp += o.fp
	m.fn += o.fn
	m.segs += o.segs
	m.found += o.found
	m.delaySum += o.delaySum
	m.falseAlarms += o.falseAlarms
	m.days += o.days
}

func (m metrics) precision() float64 { return ratio(m.tp, m.tp+m.fp) }
func (m metrics) recall() float64    { return ratio(m.tp, m.tp+m.fn) }
func (m metrics) f1() float64 {
	p, r := m.precision(), m.recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}
func (m metrics) segRecall() float64 { return ratio(m.found, m.segs) }
func (m metrics) meanDelayMin() float64 {
	if m.found == 0 {
		return math.NaN()
	}
	return float64(m.delaySum) / float64(m.found) * minutesPerSample
}
func (m metrics) faPerDay() float64 { return float64(m.falseAlarms) / m.days }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// evaluate compares flags with labels: point counts; segments (runs of 1s)
// found when any of their points is flagged, with the delay from the
// segment's start; false alarms = maximal runs of flagged points that
// overlap no labelled segment.
func evaluate(flagged, labels []bool) metrics {
	var m metrics
	for i := range labels {
		switch {
		case flagged[i] && labels[i]:
			m.tp++
		case flagged[i]:
			m.fp++
		case labels[i]:
			m.fn++
		}
	}
	for i := 0; i < len(labels); {
		if !labels[i] {
			i++
			continue
		}
		j := i
		for j < len(labels) && labels[j] {
			j++
		}
		m.segs++
		for k := i; k < j; k++ {
			if flagged[k] {
				m.found++
				m.delaySum += k - i
				break
			}
		}
		i = j
	}
	for i := 0; i < len(flagged); {
		if !flagged[i] {
			i++
			continue
		}
		j := i
		overlap := false
		for j < len(flagged) && flagged[j] {
			overlap = overlap || labels[j]
			j++
		}
		if !overlap {
			m.falseAlarms++
		}
		i = j
	}
	m.days = float64(len(labels)) * minutesPerSample / (24 * 60)
	return m
}

// quantileThreshold returns the q-quantile of scores[skip:] (nearest rank).
func quantileThreshold(scores []float64, skip int, q float64) float64 {
	if skip >= len(scores) {
		skip = 0
	}
	s := slices.Clone(scores[skip:])
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// flag marks scores strictly above the threshold, so that a threshold
// equal to a common score (e.g. 0) does not flag everything.
func flagAbove(scores []float64, th float64) []bool {
	out := make([]bool, len(scores))
	for i, s := range scores {
		out[i] = s > th
	}
	return out
}

func run(f flags, out io.Writer) error {
	start := time.Now()
	tmp, err := os.MkdirTemp("", "evaldetect")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if f.keep != "" {
		tmp = f.keep
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
	}
	if err := prepareBinary(&f, tmp); err != nil {
		return err
	}
	if f.tune {
		return tune(f, tmp, out)
	}
	// The control row smooths the baseline like our config smooths the
	// host score.
	smooth := 1
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return err
		}
		cfg, err := detect.LoadConfig(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f.config, err)
		}
		smooth = max(1, cfg.Fusion.Smooth)
	}
	var ours, base, baseSmooth metrics
	sweepWindows := []int{30, 60, 144, 288, 576, 1440}
	sweep := make([]metrics, len(sweepWindows))
	fmt.Fprintf(out, "ASD evaluation: %d servers, threshold = q%.4g of online training scores (rows >= %d), config %s\n",
		f.servers, f.quantile, f.skip, f.config)
	fmt.Fprintf(out, "baseline: windowed Gaussian, window %d samples, host score = max |z| over metrics, same threshold rule\n\n", f.window)
	fmt.Fprintln(out, "| server | method | threshold | P | R | F1 | segments found | mean delay (min) | false alarms/day |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	for s := 1; s <= f.servers; s++ {
		name := fmt.Sprintf("omi-%d", s)
		trainPath := filepath.Join(f.data, name+"_train.csv")
		testPath := filepath.Join(f.data, name+"_test.csv")
		labels, err := readLabels(filepath.Join(f.data, name+"_test_label.csv"))
		if err != nil {
			return err
		}
		// Ours, through the CLI contract.
		m, err := scoreOurs(&f, tmp, name, trainPath, testPath, labels)
		if err != nil {
			return err
		}
		ours.add(m)
		row(out, name, "detect", m)

		// Baseline, in the same run.
		train, err := readRows(trainPath)
		if err != nil {
			return err
		}
		test, err := readRows(testPath)
		if err != nil {
			return err
		}
		bm := baselineEval(train, test, labels, f.window, f.minStd, f.skip, f.quantile, 1)
		base.add(bm)
		baseSmooth.add(baselineEval(train, test, labels, f.window, f.minStd, f.skip, f.quantile, smooth))
		row(out, name, fmt.Sprintf("baseline w=%d", f.window), bm)
		if f.sweep {
			for i, w := range sweepWindows {
				sweep[i].add(baselineEval(train, test, labels, w, f.minStd, f.skip, f.quantile, 1))
			}
		}
	}
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	row(out, "all", "detect", ours)
	row(out, "all", fmt.Sprintf("baseline w=%d", f.window), base)
	row(out, "all", fmt.Sprintf("(control) baseline w=%d, mean of %d rows", f.window, smooth), baseSmooth)
	if f.sweep {
		fmt.Fprintln(out, "\nbaseline window sweep (all servers):")
		fmt.Fprintln(out, "| window | P | R | F1 | segment recall | mean delay (min) | false alarms/day |")
		fmt.Fprintln(out, "|---:|---:|---:|---:|---:|---:|---:|")
		for i, w := range sweepWindows {
			m := sweep[i]
			fmt.Fprintf(out, "| %d | %.3f | %.3f | %.3f | %.3f | %.1f | %.2f |\n", w, m.precision(), m.recall(), m.f1(), m.segRecall(), m.meanDelayMin(), m.faPerDay())
		}
	}
	fmt.Fprintf(out, "\npoint F1: detect %.3f vs baseline %.3f; false alarms/day: detect %.2f vs baseline %.2f; elapsed %.1fs\n",
		ours.f1(), base.f1(), ours.faPerDay(), base.faPerDay(), time.Since(start).Seconds())
	fmt.Fprintf(out, "RESULT asd_point_f1=%.4f asd_segment_recall=%.4f asd_false_alarms_per_day=%.4f baseline_point_f1=%.4f\n",
		ours.f1(), ours.segRecall(), ours.faPerDay(), base.f1())
	return nil
}

// scoreOurs runs the CLI twice — online over the training file for the
// threshold, then over the scored file after learning the training file —
// and evaluates the flags against labels.
func scoreOurs(f *flags, tmp, name, trainPath, testPath string, labels []bool) (metrics, error) {
	calib := filepath.Join(tmp, name+"_train_scores.csv")
	if err := cli(f, "--in", trainPath, "--out", calib); err != nil {
		return metrics{}, err
	}
	scored := filepath.Join(tmp, name+"_test_scores.csv")
	if err := cli(f, "--train", trainPath, "--in", testPath, "--out", scored); err != nil {
		return metrics{}, err
	}
	calibScores, err := readScores(calib)
	if err != nil {
		return metrics{}, err
	}
	testScores, err := readScores(scored)
	if err != nil {
		return metrics{}, err
	}
	if len(testScores) != len(labels) {
		return metrics{}, fmt.Errorf("%s: %d scores for %d labels", scored, len(testScores), len(labels))
	}
	th := quantileThreshold(calibScores, f.skip, f.quantile)
	m := evaluate(flagAbove(testScores, th), labels)
	m.threshold = th
	return m, nil
}

func row(out io.Writer, server, method string, m metrics) {
	th := "-"
	if server != "all" {
		th = fmt.Sprintf("%.4f", m.threshold)
	}
	fmt.Fprintf(out, "| %s | %s | %s | %.3f | %.3f | %.3f | %d/%d | %.1f | %.2f |\n",
		server, method, th, m.precision(), m.recall(), m.f1(), m.found, m.segs, m.meanDelayMin(), m.faPerDay())
}

// prepareBinary sets f.bin/f.binArgs: the -bin command split on spaces, or
// a freshly built edgepulse-detect (run from the module root).
func prepareBinary(f *flags, dir string) error {
	if f.bin != "" {
		parts := strings.Fields(f.bin)
		f.bin, f.binArgs = parts[0], parts[1:]
		return nil
	}
	f.bin = filepath.Join(dir, "edgepulse-detect")
	cmd := exec.Command("go", "build", "-o", f.bin, "./edge/internal/detectcli/cmd/edgepulse-detect")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build edgepulse-detect (run from the module root): %w: %s", err, out)
	}
	return nil
}

// cli execs the scoring CLI with the config added.
func cli(f *flags, args ...string) error {
	if f.config != "" {
		args = append(args, "--config", f.config)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(f.bin, append(slices.Clone(f.binArgs), args...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", f.bin, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// readScores reads the anomaly_score column of a CLI output file.
func readScores(path string) ([]float64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r, err := detect.NewCSVReader(fh, path)
	if err != nil {
		return nil, err
	}
	if !r.HasTimestamp() || len(r.Columns()) < 1 || r.Columns()[0] != "anomaly_score" {
		return nil, fmt.Errorf("%s: header is not timestamp,anomaly_score", path)
	}
	var out []float64
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, row.Values[0])
	}
}

func readRows(path string) ([][]float64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r, err := detect.NewCSVReader(fh, path)
	if err != nil {
		return nil, err
	}
	var out [][]float64
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, slices.Clone(row.Values))
	}
}

func readLabels(path string) ([]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []bool
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		v, err := strconv.ParseFloat(strings.TrimSpace(l), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out = append(out, v != 0)
	}
	return out, nil
}
