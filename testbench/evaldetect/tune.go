package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Tuning never reads test files or test labels. For each server the
// training file is split: the first fitRows rows are the training part, the
// rest is a validation part into which synthetic anomalies are injected
// with known labels. Candidate configs are compared on that, and the
// chosen one is then run once on the test files.

const fitRows = 6000

// injectKinds are the synthetic anomaly shapes.
var injectKinds = []string{"spike", "shift", "stuck", "decorrelate"}

// inject returns a copy of rows with about nseg anomaly segments and their
// labels. Magnitudes are in units of each column's first-difference
// standard deviation (its short-term noise) measured on ref.
func inject(ref, rows [][]float64, nseg int, rng *rand.Rand) ([][]float64, []bool) {
	d := len(rows[0])
	noise := make([]float64, d)
	for j := range d {
		s, n := 0.0, 0
		for i := 1; i < len(ref); i++ {
			v := ref[i][j] - ref[i-1][j]
			s += v * v
			n++
		}
		noise[j] = math.Max(math.Sqrt(s/float64(n)), 0.01)
	}
	out := make([][]float64, len(rows))
	for i := range rows {
		out[i] = append([]float64(nil), rows[i]...)
	}
	labels := make([]bool, len(rows))
	for k := 0; k < nseg; k++ {
		kind := injectKinds[rng.IntN(len(injectKinds))]
		length := 10 + rng.IntN(50)
		if kind == "spike" {
			length = 1 + rng.IntN(3)
		}
		var start int
		for try := 0; ; try++ {
			start = rng.IntN(len(rows) - length - 1)
			free := true
			for i := max(0, start-30); i < min(len(rows), start+length+30); i++ {
				free = free && !labels[i]
			}
			if free || try > 100 {
				break
			}
		}
		cols := rng.Perm(d)[:1+rng.IntN(4)]
		sign := 1.0
		if rng.IntN(2) == 0 {
			sign = -1
		}
		mag := 3 + 5*rng.Float64()
		offset := 100 + rng.IntN(900)
		for i := start; i < start+length; i++ {
			labels[i] = true
			for _, j := range cols {
				switch kind {
				case "spike", "shift":
					out[i][j] = rows[i][j] + sign*mag*noise[j]
				case "stuck":
					out[i][j] = rows[start][j]
				case "decorrelate":
					src := i - offset
					if src < 0 {
						src = i + offset
					}
					out[i][j] = rows[min(src, len(rows)-1)][j]
				}
				out[i][j] = math.Round(math.Min(1, math.Max(0, out[i][j]))*100) / 100
			}
		}
	}
	return out, labels
}

func writeRows(path string, rows [][]float64) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 256)
	for _, r := range rows {
		buf = buf[:0]
		for j, v := range r {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
		}
		buf = append(buf, '\n')
		if _, err := fh.Write(buf); err != nil {
			fh.Close()
			return err
		}
	}
	return fh.Close()
}

// tune scores the validation parts of every server with the current config
// and the baselines and prints the totals at both thresholds (the oracle
// one here reads only the synthetic labels).
func tune(f flags, tmp string, out io.Writer) error {
	names := []string{"detect", "z-score", fmt.Sprintf("wgauss w=%d", f.window)}
	total := make([]method, len(names))
	for s := 1; s <= f.servers; s++ {
		name := fmt.Sprintf("omi-%d", s)
		all, err := readRows(filepath.Join(f.data, name+"_train.csv"))
		if err != nil {
			return err
		}
		fit, val := all[:fitRows], all[fitRows:]
		rng := rand.New(rand.NewPCG(uint64(s), 2017))
		inj, labels := inject(fit, val, 8, rng)
		fitPath := filepath.Join(tmp, name+"_fit.csv")
		valPath := filepath.Join(tmp, name+"_val.csv")
		if err := writeRows(fitPath, fit); err != nil {
			return err
		}
		if err := writeRows(valPath, inj); err != nil {
			return err
		}
		var ours []float64
		if f.online {
			// No --train: the CLI streams the training part and then the
			// validation part, learning online as the agent does; only the
			// validation rows are scored.
			bothPath := filepath.Join(tmp, name+"_both.csv")
			if err := writeRows(bothPath, append(append([][]float64(nil), fit...), inj...)); err != nil {
				return err
			}
			scored := filepath.Join(tmp, name+"_online_scores.csv")
			if err := cli(&f, "--in", bothPath, "--out", scored); err != nil {
				return err
			}
			all, err := readScores(scored)
			if err != nil {
				return err
			}
			ours = all[len(fit):]
		} else {
			ours, err = scoreOurs(&f, tmp, name+"_tune", fitPath, valPath)
			if err != nil {
				return err
			}
		}
		for i, sc := range [][]float64{ours, squash(trainZScores(fit, inj, f.minStd)), squash(windowedGaussian(fit, inj, f.window, f.minStd))} {
			lf, or := evalScores(sc, labels)
			total[i].labelFree.add(lf)
			total[i].oracle.add(or)
		}
	}
	fmt.Fprintf(out, "TUNE config=%s online=%v\n", f.config, f.online)
	for i, m := range total {
		fmt.Fprintf(out, "  %-12s 0.5: P=%.3f R=%.3f F1=%.3f segrec=%.3f fa/day=%.2f | oracle: P=%.3f R=%.3f F1=%.3f segrec=%.3f fa/day=%.2f\n",
			names[i], m.labelFree.precision(), m.labelFree.recall(), m.labelFree.f1(), m.labelFree.segRecall(), m.labelFree.faPerDay(),
			m.oracle.precision(), m.oracle.recall(), m.oracle.f1(), m.oracle.segRecall(), m.oracle.faPerDay())
	}
	return nil
}
