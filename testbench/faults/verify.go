package faults

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// Result is a scenario's outcome. See doc.go for the exact definitions.
type Result struct {
	Scenario string
	Agents   int
	// WindowsExpected: distinct (agent, window) seen at the hub, plus
	// sequence numbers the agents' spools issued that never reached it.
	WindowsExpected int
	// WindowsStored: expected windows whose every rollup is in Redis
	// exactly once (one member at the window's score) with the published
	// value.
	WindowsStored int
	// Duplicates: windows shipped under two or more sequence numbers, or
	// with more than one member at their score in a series.
	Duplicates int
	// Lost: windows a spool issued a sequence number for that never reached
	// the hub, plus windows seen at the hub with a rollup missing in Redis.
	Lost int
	// Wrong: windows whose Redis member differs from the published one.
	Wrong int
	// Replays: batches seen at the hub more than once under the same
	// sequence number (retries, replays after reconnects and crashes:
	// expected and harmless, the stream stores them once).
	Replays int
	// LeftInSpool: batches still in the agents' spools after the final
	// drain and a clean stop (must be 0).
	LeftInSpool int
	// SpoolRecovered: spools moved aside as unreadable (must be 0).
	SpoolRecovered int
	// Conflicts: one sequence number seen with different bytes (must be 0).
	Conflicts    int
	DecodeErrors int
	// DrainS: seconds from restoring the uplink until the last batch of a
	// window that ended before the restore reached the hub; -1 without an
	// outage.
	DrainS float64
	// Backlog: batches of windows that ended before the restore and reached
	// the hub after it.
	Backlog int
	// CrashRestarts: agents killed with SIGKILL and started again.
	CrashRestarts int
	// ReopenFailures: restarts after which the agent did not come up (spool
	// not reopened, process exited by itself).
	ReopenFailures int
	// Rejected and SpoolDropped: forwarder rejections and spool overflow
	// drops, summed over the agents' last /metrics scrape.
	Rejected, SpoolDropped int
	// Problems lists what went wrong, for the report.
	Problems []string
}

// OK reports whether the run met every invariant.
func (r Result) OK() bool {
	return r.WindowsExpected > 0 && r.WindowsStored == r.WindowsExpected && r.Duplicates == 0 && r.Lost == 0 &&
		r.Wrong == 0 && r.LeftInSpool == 0 && r.SpoolRecovered == 0 && r.Conflicts == 0 && r.DecodeErrors == 0 &&
		r.ReopenFailures == 0 && len(r.Problems) == 0
}

// Line is the one-line summary.
func (r Result) Line() string {
	return fmt.Sprintf("RESULT windows_expected=%d windows_stored=%d duplicates=%d lost=%d drain_s=%.1f crash_restarts=%d",
		r.WindowsExpected, r.WindowsStored, r.Duplicates, r.Lost, r.DrainS, r.CrashRestarts)
}

// Detail is the line with every counter.
func (r Result) Detail() string {
	return fmt.Sprintf("scenario=%s agents=%d windows_expected=%d windows_stored=%d duplicates=%d lost=%d wrong=%d replays=%d "+
		"left_in_spool=%d spool_recovered=%d conflicts=%d decode_errors=%d backlog=%d drain_s=%.1f crash_restarts=%d "+
		"reopen_failures=%d rejected=%d spool_dropped=%d",
		r.Scenario, r.Agents, r.WindowsExpected, r.WindowsStored, r.Duplicates, r.Lost, r.Wrong, r.Replays,
		r.LeftInSpool, r.SpoolRecovered, r.Conflicts, r.DecodeErrors, r.Backlog, r.DrainS, r.CrashRestarts,
		r.ReopenFailures, r.Rejected, r.SpoolDropped)
}

// Sum adds results: counts add up, drain_s is the largest.
func Sum(rs ...Result) Result {
	out := Result{Scenario: "all", DrainS: -1}
	for _, r := range rs {
		out.Agents += r.Agents
		out.WindowsExpected += r.WindowsExpected
		out.WindowsStored += r.WindowsStored
		out.Duplicates += r.Duplicates
		out.Lost += r.Lost
		out.Wrong += r.Wrong
		out.Replays += r.Replays
		out.LeftInSpool += r.LeftInSpool
		out.SpoolRecovered += r.SpoolRecovered
		out.Conflicts += r.Conflicts
		out.DecodeErrors += r.DecodeErrors
		out.Backlog += r.Backlog
		out.DrainS = max(out.DrainS, r.DrainS)
		out.CrashRestarts += r.CrashRestarts
		out.ReopenFailures += r.ReopenFailures
		out.Rejected += r.Rejected
		out.SpoolDropped += r.SpoolDropped
		for _, p := range r.Problems {
			out.Problems = append(out.Problems, r.Scenario+": "+p)
		}
	}
	return out
}

// spoolState is an agent's spool after its process stopped.
type spoolState struct {
	held    int
	lastSeq uint64
	aside   int // spool.corrupt-* directories
}

func readSpool(a *Agent) (spoolState, error) {
	dir := filepath.Join(a.DataDir, "spool")
	aside, _ := filepath.Glob(dir + ".corrupt-*")
	sp, err := spool.Open(spool.Options{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		return spoolState{}, fmt.Errorf("faults: reading spool of %s: %w", a.ID, err)
	}
	defer sp.Close()
	st := sp.Stats()
	return spoolState{held: st.Batches, lastSeq: sp.LastSeq(), aside: len(aside) + int(st.Recovered)}, nil
}

// verify checks what the agents shipped (the recorder's sightings and
// their stopped spools) against Redis, and fills r's window counters.
func verify(ctx context.Context, f *Fleet, rec *Recorder, agents []*Agent, r *Result) error {
	db, err := store.Open(ctx, store.Options{Addr: f.Redis.Addr})
	if err != nil {
		return err
	}
	defer db.Close()
	r.Agents = len(agents)
	_, r.DecodeErrors, r.Conflicts = rec.Counts()
	type window struct {
		agent string
		start int64
	}
	for _, a := range agents {
		st, err := readSpool(a)
		if err != nil {
			return err
		}
		r.LeftInSpool += st.held
		r.SpoolRecovered += st.aside
		if st.held > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d batches left in the spool", a.ID, st.held))
		}

		sightings := rec.Sightings(a.ID)
		seen := make(map[uint64]bool, len(sightings))
		byWindow := map[window][]*Sighting{}
		for _, s := range sightings {
			seen[s.Seq] = true
			r.Replays += s.Count - 1
			w := window{a.ID, s.Start}
			byWindow[w] = append(byWindow[w], s)
			if s.Seq < a.FirstSeq || s.Seq > st.lastSeq {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: seq %d outside the spool's range [%d, %d]", a.ID, s.Seq, a.FirstSeq, st.lastSeq))
			}
		}
		// Sequence numbers the spool issued that never reached the hub.
		unseen := 0
		for q := a.FirstSeq; q <= st.lastSeq; q++ {
			if !seen[q] {
				unseen++
			}
		}
		if unseen > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d spooled sequence numbers never reached the hub", a.ID, unseen))
		}
		r.WindowsExpected += len(byWindow) + unseen
		r.Lost += unseen

		// Every window's rollups in Redis: the records of each series'
		// window ends.
		type check struct {
			w window
			m Member
		}
		bySID := map[string][]check{}
		undecoded := 0
		for w, ss := range byWindow {
			for _, s := range ss {
				if s.Members == nil {
					undecoded++ // its base frame never reached the hub
				}
				for _, m := range s.Members {
					bySID[m.SID] = append(bySID[m.SID], check{w, m})
				}
			}
		}
		if undecoded > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d frames seen at the hub never decoded (base missing)", a.ID, undecoded))
		}
		got := map[*check][]store.Point{}
		for sid, cs := range bySID {
			ends := make([]int64, len(cs))
			for i := range cs {
				ends[i] = cs[i].m.Value.End
			}
			copies, err := db.WindowCopies(ctx, cs[0].m.Agent, sid, cs[0].m.Value.Width, ends)
			if err != nil {
				return fmt.Errorf("faults: redis check of %s: %w", a.ID, err)
			}
			for i := range cs {
				got[&cs[i]] = copies[i]
			}
		}
		const (
			ok = iota
			wrong
			dup
			missing
		)
		state := map[window]int{}
		for w, ss := range byWindow {
			state[w] = ok
			if len(ss) > 1 {
				state[w] = dup
			}
		}
		for c, ps := range got {
			s := ok
			switch {
			case len(ps) == 0:
				s = missing
			case len(ps) > 1:
				s = dup
			case !samePoint(ps[0], c.m.Value):
				s = wrong
			}
			state[c.w] = max(state[c.w], s)
		}
		var bad []string
		for w, s := range state {
			switch s {
			case ok:
				r.WindowsStored++
			case wrong:
				r.Wrong++
			case dup:
				r.Duplicates++
			case missing:
				r.Lost++
			}
			if s != ok && len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("%s@%d:%s", w.agent, w.start, []string{"ok", "wrong", "duplicate", "missing"}[s]))
			}
		}
		if len(bad) > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: windows not stored exactly once: %s", a.ID, strings.Join(bad, " ")))
		}
	}
	if r.Conflicts > 0 || r.DecodeErrors > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("recorder: %d sequence conflicts, %d undecodable batches", r.Conflicts, r.DecodeErrors))
	}
	if r.SpoolRecovered > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d spools were moved aside as unreadable", r.SpoolRecovered))
	}
	return nil
}

// leaks counts batches that reached the hub between from and to, while
// every uplink was cut: they went around the cut.
func leaks(rec *Recorder, agents []*Agent, from, to time.Time) int {
	n := 0
	for _, a := range agents {
		for _, s := range rec.Sightings(a.ID) {
			if s.First.After(from) && s.First.Before(to) {
				n++
			}
		}
	}
	return n
}

// drain measures, after the fact, how long after restore the last batch
// of a window that ended before it reached the hub.
func drain(rec *Recorder, agents []*Agent, restore time.Time) (seconds float64, backlog int) {
	cut := restore.UnixMilli()
	var last time.Time
	for _, a := range agents {
		for _, s := range rec.Sightings(a.ID) {
			if s.End() <= cut && s.First.After(restore) {
				backlog++
				if s.First.After(last) {
					last = s.First
				}
			}
		}
	}
	if backlog == 0 {
		return 0, 0
	}
	return last.Sub(restore).Seconds(), backlog
}

// samePoint compares stored windows bit for bit (NaN equals NaN).
func samePoint(a, b store.Point) bool {
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return a.End == b.End && a.Width == b.Width && a.Count == b.Count && a.HasQuantiles == b.HasQuantiles &&
		same(a.Sum, b.Sum) && same(a.Min, b.Min) && same(a.Max, b.Max) && same(a.First, b.First) && same(a.Last, b.Last) &&
		same(a.P50, b.P50) && same(a.P90, b.P90) && same(a.P99, b.P99)
}
