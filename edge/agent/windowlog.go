package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/rollup"
)

// The window log is a measurement aid (config window_log): every closed
// window's full batch, exact values, one JSON line per window, appended
// before the batch is encoded for the wire. The backhaul meter
// (testbench/backhaul) re-encodes these batches with each wire option set
// and checks them against what the aggregator stored. Seq is 0 in the log:
// the spool assigns it later. Off by default; a write error is logged and
// never stops shipping.

// logWindow appends w's batch to the window log, when one is configured.
func (a *Agent) logWindow(w rollup.Window) {
	if a.cfg.WindowLog == "" {
		return
	}
	b := a.windowBatch(w)
	if b == nil {
		return
	}
	if err := appendWindowLog(a.cfg.WindowLog, b); err != nil {
		a.log.Warn("window log", "path", a.cfg.WindowLog, "start", w.Start, "err", err)
	}
}

// windowBatch builds the full batch of a closed window: every series with
// a sample or a carried-over counter, sorted by id, with the events waiting
// for the next batch. It returns nil when there is nothing to ship.
func (a *Agent) windowBatch(w rollup.Window) *codec.Batch {
	ids := make([]uint32, 0, len(w.States))
	for id, st := range w.States {
		if a.reg.Desc(id) == nil {
			continue
		}
		if st.Count > 0 || st.LastTS > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && len(a.pending) == 0 {
		return nil
	}
	slices.Sort(ids)
	b := &codec.Batch{
		Version: codec.Version, Agent: a.cfg.AgentID(), Site: a.cfg.Site, Host: a.cfg.Host,
		Start: w.Start, Width: w.Width, Late: w.Late,
		Series:  make([]codec.Series, 0, len(ids)),
		Rollups: make([]codec.Rollup, 0, len(ids)),
		Events:  slices.Clone(a.pending),
	}
	for _, id := range ids {
		d := a.reg.Desc(id)
		st := w.States[id]
		b.Series = append(b.Series, codec.Series{ID: id, Name: d.Name, Kind: d.Kind, Labels: d.Labels})
		r := codec.Rollup{ID: id, Count: st.Count, Sum: st.Sum, Min: st.Min, Max: st.Max, First: st.First, Last: st.Last}
		if d.Kind == codec.Counter {
			r.Last = st.Raw
		}
		r.Quantiles = st.Quantiles()
		b.Rollups = append(b.Rollups, r)
	}
	return b
}

// appendWindowLog appends b as one JSON line to the file at path. One
// write per line with O_APPEND, so a reader never sees half a line from a
// concurrent writer; a crash can leave a torn last line, which readers skip.
func appendWindowLog(path string, b *codec.Batch) error {
	line, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("window %d: %w", b.Start, err) // NaN or ±Inf: JSON has no spelling for them
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
