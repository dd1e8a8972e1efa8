package main

// -seed-history: a day of raw history in minutes. The agent keeps 24 h of
// raw 1 s samples (edge/history) in its spool's Badger, and Badger's
// compaction peaks grow with the LSM: the steady state of a full history
// takes a day of running to reach. The seeder writes that day before the
// agent starts, through the agent's own code: the spool opened as the
// agent opens it (edge/spool, data_dir/spool, the config's spool and disk
// options), edge/history on the spool's DB with the config's history
// options and the agent's free-space check, fed with Append and
// Flush(simulated now) every simulated second, as the agent's rollup loop
// does, so retention and the byte bound act as over a day of running.
// A day written in seconds leaves Badger's compactions behind, so once it
// caught up with the clock the seeder goes on in real time until no level
// needs compacting (at most settleMax), then closes both.
//
// The series are this host's, collected by the agent's collectors into a
// registry labelled as the agent labels it, so the history's series keys
// are the ones the agent then writes. The values are synthetic: each
// series starts from its real value; counters grow by the rate seen over
// one real second, with jitter; gauges random-walk with noise (0 and 1, the
// flags, stay). They probably compress worse than a real day (most real
// gauges move far less), so the seeded history is a conservative (large)
// one; the byte bound caps it either way.

import (
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/edge/history"
	"github.com/edgepulse/edgepulse/edge/queue"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// seedResult is what a seeding wrote.
type seedResult struct {
	Series   int           // series written every simulated second
	Took     time.Duration // wall time of the seeding
	Start    time.Time     // first simulated second
	End      time.Time     // last simulated second (close to the wall clock at the end)
	History  history.Stats // the history's counters after the last flush
	DiskByte int64         // bytes the data_dir occupies on disk (allocated blocks)
	MaxBytes int64         // the history's byte bound (config or default)
	Settle   time.Duration // time after catching up with the clock until no Badger level needed compacting
	Settled  bool          // false: gave up after settleMax
	Levels   string        // Badger's levels at the end (LevelsToString)
}

// settleMax bounds the wait for Badger's compactions after the seeding.
const settleMax = 3 * time.Minute

// settled reports whether no level of the LSM needs a compaction (Badger
// sets a level's score only when it does).
func settled(levels []badger.LevelInfo) bool {
	for _, l := range levels {
		if l.Adjusted >= 1 || l.Score >= 1 {
			return false
		}
	}
	return true
}

// seriesGen makes one series' synthetic values.
type seriesGen struct {
	id      uint32
	counter bool
	v       float64 // current value
	rate    float64 // counters: increase per second seen on this host
	step    float64 // gauges: random-walk step (0: the value stays)
	integer bool    // the real value was integral: keep it so
}

// seedHistory writes d of raw history ending at the wall clock into the
// data_dir of the agent config at cfgPath. It returns once the spool is
// closed again, so the agent can start on it.
func seedHistory(cfgPath string, d time.Duration, log *slog.Logger) (seedResult, error) {
	t0 := time.Now()
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		return seedResult{}, err
	}
	gens, reg, err := hostSeries(cfg, log)
	if err != nil {
		return seedResult{}, err
	}
	// As the agent opens them: edge/agent/agent.go (openOutbox) and
	// ondemand.go (startHistory).
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(cfg.DataDir, "spool"), MaxBytes: cfg.SpoolMaxBytes, DiskReserve: cfg.DiskReserve}, log)
	if err != nil {
		return seedResult{}, fmt.Errorf("seed: opening the spool: %w", err)
	}
	iv := cfg.Interval
	start := time.Now().Add(-d).Truncate(time.Minute)
	namer := func(id uint32) (string, []string, bool) {
		if d := reg.Desc(id); d != nil {
			return d.Name, d.Labels, true
		}
		return "", nil, false
	}
	h, err := history.NewAt(sp.DB(), cfg.History, namer, log, start)
	if err != nil {
		sp.Close()
		return seedResult{}, fmt.Errorf("seed: opening the history: %w", err)
	}
	h.SetRoom(func(n int64) (bool, error) { return sp.Room(n, 2*sp.Reserve()) })

	rng := rand.New(rand.NewPCG(uint64(start.Unix()), 18))
	batch := make([]queue.Sample, len(gens))
	ts := start
	var flushErr error
	var caughtUp time.Time
	for {
		// Chase the wall clock: the history ends where the agent takes
		// over.
		for ; !ts.After(time.Now()); ts = ts.Add(iv) {
			ms := ts.UnixMilli()
			for i := range gens {
				batch[i] = queue.Sample{TS: ms, Value: gens[i].next(rng, iv), Series: gens[i].id}
			}
			h.Append(batch)
			// The agent's rollup loop flushes after every cycle; a minute
			// is written once it ended 2 s ago, and the bounds apply then.
			if err := h.Flush(ts.Add(iv), false); err != nil && flushErr == nil {
				flushErr = err
			}
		}
		if caughtUp.IsZero() {
			caughtUp = time.Now()
		}
		// A day written in seconds leaves Badger's compactions behind; a
		// day of running does not. Keep going in real time (as the agent
		// would) until no level needs compacting, so the agent starts on
		// an LSM shaped like a running one's.
		if settled(sp.DB().Levels()) || time.Since(caughtUp) > settleMax {
			break
		}
		time.Sleep(iv)
	}
	settle := time.Since(caughtUp)
	levels := sp.DB().LevelsToString()
	cerr := h.Close()
	st := h.Stats()
	serr := sp.Close()
	res := seedResult{Series: len(gens), Took: time.Since(t0), Start: start, End: ts.Add(-iv), History: st,
		MaxBytes: cfg.History.WithDefaults().MaxBytes, Settle: settle, Settled: settle <= settleMax, Levels: levels}
	res.DiskByte, err = diskUsage(cfg.DataDir)
	for _, e := range []error{flushErr, cerr, serr, err} {
		if e != nil {
			return res, fmt.Errorf("seed: %w", e)
		}
	}
	return res, nil
}

// hostSeries collects this host twice, one interval apart, with the
// agent's collectors into a registry labelled as the agent labels its own
// (edge/agent/agent.go New), and returns a generator per series.
func hostSeries(cfg agent.Config, log *slog.Logger) ([]seriesGen, *collect.Registry, error) {
	set, err := collect.DefaultWith(log, cfg.ProcRoot, cfg.Collect)
	if err != nil {
		return nil, nil, err
	}
	reg := collect.NewRegistry(cfg.MaxSeries)
	reg.SetTargetLabels("job", cfg.JobLabel())
	e := collect.NewEmitter(reg)
	now := time.Now().Truncate(cfg.Interval)
	e.Reset(now.UnixMilli())
	set.Collect(e)
	first := map[uint32]float64{}
	for _, s := range e.Samples() {
		first[s.Series] = s.Value
	}
	time.Sleep(cfg.Interval)
	e.Reset(now.Add(cfg.Interval).UnixMilli())
	set.Collect(e)
	var gens []seriesGen
	for _, s := range e.Samples() {
		d := reg.Desc(s.Series)
		if d == nil {
			continue
		}
		g := seriesGen{id: s.Series, v: s.Value, counter: d.Kind == codec.Counter, integer: s.Value == math.Trunc(s.Value)}
		if g.counter {
			if v0, ok := first[s.Series]; ok && s.Value > v0 {
				g.rate = (s.Value - v0) / cfg.Interval.Seconds()
			}
		} else if s.Value != 0 && s.Value != 1 && !math.IsInf(s.Value, 0) && !math.IsNaN(s.Value) {
			g.step = math.Abs(s.Value) * 1e-3
		}
		gens = append(gens, g)
	}
	if len(gens) == 0 {
		return nil, nil, fmt.Errorf("seed: the collectors reported no series on %q", cfg.ProcRoot)
	}
	return gens, reg, nil
}

// next advances the series by one interval and returns its value.
func (g *seriesGen) next(rng *rand.Rand, iv time.Duration) float64 {
	if g.counter {
		inc := g.rate * iv.Seconds() * (0.5 + rng.Float64()) // ±50 % jitter
		if g.integer {
			inc = math.Round(inc)
		}
		g.v += inc
		return g.v
	}
	if g.step == 0 {
		return g.v
	}
	g.v += rng.NormFloat64() * g.step
	out := g.v + rng.NormFloat64()*g.step/2 // noise around the walk
	if g.integer {
		out = math.Round(out)
	}
	return out
}

// diskUsage is the space the files under dir occupy (allocated blocks,
// as du counts them: Badger preallocates and mmaps its files).
func diskUsage(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}

// seedAgents seeds each agent's data_dir in turn (the same way: each
// chases the wall clock, so each history ends when its seeding ends) and
// prints one RESULT line per agent.
func seedAgents(d time.Duration, hosts []string, cfgs map[string]agentConfig) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, h := range hosts {
		fmt.Printf("seeding %v of raw history for agent %s (load %s)\n", d, h, loadavg())
		r, err := seedHistory(cfgs[h].path, d, log)
		if err != nil {
			return fmt.Errorf("agent %s: %w", h, err)
		}
		fmt.Printf("Badger levels after seeding agent %s (settled %v after catching up: %v):%s", h, r.Settle.Round(time.Second), r.Settled, r.Levels)
		fmt.Printf("RESULT seed_hours=%.1f seed_s=%.1f seed_history_mb=%.1f seed_disk_mb=%.1f seed_host=%s seed_series=%d seed_settle_s=%.0f seed_settled=%v seed_minutes=%d seed_history_max_mb=%.0f seed_dropped_minutes=%d seed_expired_minutes=%d seed_samples=%d seed_late=%d seed_errors=%d seed_disk_dropped=%d load1=%s\n",
			r.End.Sub(r.Start).Hours(), r.Took.Seconds(), mb(r.History.Bytes), mb(r.DiskByte), h, r.Series, r.Settle.Seconds(), r.Settled, r.History.Minutes,
			mb(r.MaxBytes), r.History.DroppedMinutes, r.History.ExpiredMinutes, r.History.Samples, r.History.Late,
			r.History.Errors, r.History.DiskDropped, loadavg())
	}
	return nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
