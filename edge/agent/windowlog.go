package agent

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/edgepulse/edgepulse/codec"
)

// The window log is a measurement aid (config window_log): every closed
// window's full batch, exact values, one JSON line per window, appended
// before the batch is encoded for the wire. The backhaul meter
// (testbench/backhaul) re-encodes these batches with each wire option set
// and checks them against what the aggregator stored. Seq is 0 in the log:
// the spool assigns it later. Off by default; a write error is logged and
// never stops shipping.

// logWindow appends a window's batch (before the spool gives it its
// sequence number) to the window log, when one is configured.
func (a *Agent) logWindow(b *codec.Batch) {
	if a.cfg.WindowLog == "" {
		return
	}
	if err := appendWindowLog(a.cfg.WindowLog, b); err != nil {
		a.log.Warn("window log", "path", a.cfg.WindowLog, "start", b.Start, "err", err)
	}
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
