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
	data    string
	config  string
	window  int
	minStd  float64
	servers int
	sweep   bool
	keep    string
	bin     string
	binArgs []string
	tune    bool
	online  bool
	// before, beforeConfig: an older scoring command and its config, scored
	// in the same run as "detect (before)" for comparison.
	before       string
	beforeConfig string
}

func main() {
	var f flags
	flag.StringVar(&f.data, "data", "/work/shared/data/asd", "directory with omi-N_{train,test,test_label}.csv")
	flag.StringVar(&f.config, "config", "testbench/evaldetect/detect.yaml", "detect config passed to the CLI (--config)")
	flag.IntVar(&f.window, "window", 288, "baseline window in samples (288 = one day)")
	flag.Float64Var(&f.minStd, "baseline-min-std", 0.01, "baseline standard-deviation floor (the data's quantum)")
	flag.IntVar(&f.servers, "servers", 12, "evaluate omi-1 .. omi-N")
	flag.BoolVar(&f.sweep, "sweep", false, "also print the baseline for several windows")
	flag.StringVar(&f.keep, "keep", "", "keep the CLI's score files in this directory")
	flag.StringVar(&f.bin, "bin", "", "scoring command to exec, e.g. \"edgepulse-agent detect\"; default: build edge/internal/detectcli/cmd/edgepulse-detect")
	flag.BoolVar(&f.tune, "tune", false, "tuning mode: score synthetic anomalies injected into held-out training rows; reads no test file or label")
	flag.BoolVar(&f.online, "online", false, "with -tune: score without --train (the detector learns online from the training part, as the agent and the no-train CLI path do)")
	flag.StringVar(&f.before, "before", "", "also score with this older scoring command (e.g. a binary built from an earlier commit), reported as \"detect (before)\"")
	flag.StringVar(&f.beforeConfig, "before-config", "", "config passed to the -before command")
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

// flagAtLeast marks scores at or above the threshold.
func flagAtLeast(scores []float64, th float64) []bool {
	out := make([]bool, len(scores))
	for i, s := range scores {
		out[i] = s >= th
	}
	return out
}

// labelFreeThreshold is the threshold every method's [0, 1] score is cut
// at without looking at labels: 0.5 is each score's documented alarm level.
const labelFreeThreshold = 0.5

// oracleThreshold returns the threshold th (flag score >= th) with the best
// point F1 against labels — an oracle that reads the labels, reported the
// way papers report best-F1, never used to choose anything.
func oracleThreshold(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	pos := 0
	for i := range idx {
		idx[i] = i
		if labels[i] {
			pos++
		}
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	best, bestTh := -1.0, math.Inf(1)
	tp, fp := 0, 0
	for k := 0; k < len(idx); {
		v := scores[idx[k]]
		for k < len(idx) && scores[idx[k]] == v {
			if labels[idx[k]] {
				tp++
			} else {
				fp++
			}
			k++
		}
		if tp == 0 {
			continue
		}
		p := float64(tp) / float64(tp+fp)
		r := float64(tp) / float64(pos)
		if f := 2 * p * r / (p + r); f > best {
			best, bestTh = f, v
		}
	}
	return bestTh
}

// method is one scoring method's figures at both thresholds.
type method struct {
	name              string
	labelFree, oracle metrics
}

// evalScores evaluates one server's scores at the label-free and the oracle
// threshold.
func evalScores(scores []float64, labels []bool) (labelFree, oracle metrics) {
	labelFree = evaluate(flagAtLeast(scores, labelFreeThreshold), labels)
	labelFree.threshold = labelFreeThreshold
	th := oracleThreshold(scores, labels)
	oracle = evaluate(flagAtLeast(scores, th), labels)
	oracle.threshold = th
	return labelFree, oracle
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
	names := []string{"detect", "z-score (train mean/std)", fmt.Sprintf("windowed Gaussian w=%d", f.window)}
	if f.before != "" {
		names = append(names, "detect (before)")
	}
	total := make([]method, len(names))
	for i := range total {
		total[i].name = names[i]
	}
	sweepWindows := []int{30, 60, 144, 288, 576, 1440}
	sweep := make([]method, len(sweepWindows))
	fmt.Fprintf(out, "ASD evaluation: %d servers, config %s; thresholds: label-free score >= %.1f, and the oracle best-F1 threshold per server (reads the labels)\n",
		f.servers, f.config, labelFreeThreshold)
	fmt.Fprintf(out, "baselines: per-metric z against the training mean/std, and windowed Gaussian (window %d); host score max |z| over metrics, squashed z²/(z²+9) (0.5 at |z| = 3)\n\n", f.window)
	fmt.Fprintln(out, "| server | method | threshold | P | R | F1 | segments found | mean delay (min) | false alarms/day |")
	fmt.Fprintln(out, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	for s := 1; s <= f.servers; s++ {
		name := fmt.Sprintf("omi-%d", s)
		trainPath := filepath.Join(f.data, name+"_train.csv")
		testPath := filepath.Join(f.data, name+"_test.csv")
		labels, err := readLabels(filepath.Join(f.data, name+"_test_label.csv"))
		if err != nil {
			return err
		}
		train, err := readRows(trainPath)
		if err != nil {
			return err
		}
		test, err := readRows(testPath)
		if err != nil {
			return err
		}
		ours, err := scoreOurs(&f, tmp, name, trainPath, testPath)
		if err != nil {
			return err
		}
		if len(ours) != len(labels) {
			return fmt.Errorf("%s: %d scores for %d labels", name, len(ours), len(labels))
		}
		all := [][]float64{
			ours,
			squash(trainZScores(train, test, f.minStd)),
			squash(windowedGaussian(train, test, f.window, f.minStd)),
		}
		if f.before != "" {
			old := f
			old.bin, old.binArgs, old.config = strings.Fields(f.before)[0], strings.Fields(f.before)[1:], f.beforeConfig
			before, err := scoreOurs(&old, tmp, name+"_before", trainPath, testPath)
			if err != nil {
				return err
			}
			all = append(all, before)
		}
		for i, sc := range all {
			lf, or := evalScores(sc, labels)
			total[i].labelFree.add(lf)
			total[i].oracle.add(or)
			row(out, name, names[i], "0.5", lf)
			row(out, name, names[i], fmt.Sprintf("oracle %.4f", or.threshold), or)
		}
		if f.sweep {
			for i, w := range sweepWindows {
				lf, or := evalScores(squash(windowedGaussian(train, test, w, f.minStd)), labels)
				sweep[i].labelFree.add(lf)
				sweep[i].oracle.add(or)
			}
		}
	}
	fmt.Fprintln(out, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, m := range total {
		row(out, "all", m.name, "0.5", m.labelFree)
		row(out, "all", m.name, "oracle (per server)", m.oracle)
	}
	if f.sweep {
		fmt.Fprintln(out, "\nwindowed Gaussian window sweep (all servers):")
		fmt.Fprintln(out, "| window | F1 at 0.5 | false alarms/day at 0.5 | oracle F1 | oracle false alarms/day |")
		fmt.Fprintln(out, "|---:|---:|---:|---:|---:|")
		for i, w := range sweepWindows {
			m := sweep[i]
			fmt.Fprintf(out, "| %d | %.3f | %.2f | %.3f | %.2f |\n", w, m.labelFree.f1(), m.labelFree.faPerDay(), m.oracle.f1(), m.oracle.faPerDay())
		}
	}
	ours := total[0]
	bestLF, bestOr := 0, 0   // the better baseline at each threshold, by F1
	for i := 1; i < 3; i++ { // the baselines
		if bestLF == 0 || total[i].labelFree.f1() > total[bestLF].labelFree.f1() {
			bestLF = i
		}
		if bestOr == 0 || total[i].oracle.f1() > total[bestOr].oracle.f1() {
			bestOr = i
		}
	}
	fmt.Fprintf(out, "\nlabel-free (0.5): detect F1 %.3f vs better baseline (%s) %.3f = %.2f×; false alarms/day %.2f vs %.2f\n",
		ours.labelFree.f1(), total[bestLF].name, total[bestLF].labelFree.f1(), ours.labelFree.f1()/total[bestLF].labelFree.f1(),
		ours.labelFree.faPerDay(), total[bestLF].labelFree.faPerDay())
	fmt.Fprintf(out, "oracle:           detect F1 %.3f vs better baseline (%s) %.3f = %.2f×; false alarms/day %.2f vs %.2f\n",
		ours.oracle.f1(), total[bestOr].name, total[bestOr].oracle.f1(), ours.oracle.f1()/total[bestOr].oracle.f1(),
		ours.oracle.faPerDay(), total[bestOr].oracle.faPerDay())
	fmt.Fprintf(out, "elapsed %.1fs\n", time.Since(start).Seconds())
	fmt.Fprintf(out, "RESULT asd_point_f1=%.4f asd_oracle_f1=%.4f asd_segment_recall=%.4f asd_false_alarms_per_day=%.4f baseline_point_f1=%.4f baseline_oracle_f1=%.4f baseline_false_alarms_per_day=%.4f\n",
		ours.labelFree.f1(), ours.oracle.f1(), ours.labelFree.segRecall(), ours.labelFree.faPerDay(),
		total[bestLF].labelFree.f1(), total[bestOr].oracle.f1(), total[bestLF].labelFree.faPerDay())
	return nil
}

// scoreOurs runs the CLI over the scored file after learning the training
// file and returns the host scores.
func scoreOurs(f *flags, tmp, name, trainPath, testPath string) ([]float64, error) {
	scored := filepath.Join(tmp, name+"_test_scores.csv")
	if err := cli(f, "--train", trainPath, "--in", testPath, "--out", scored); err != nil {
		return nil, err
	}
	return readScores(scored)
}

func row(out io.Writer, server, method, th string, m metrics) {
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
