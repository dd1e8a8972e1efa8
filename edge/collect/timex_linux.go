package collect

import (
	"golang.org/x/sys/unix"
)

// TimexCollector reports node_exporter's node_timex_* from adjtimex(2)
// (a read: modes 0), the kernel clock discipline NTP and chrony steer:
// offset, frequency adjustment, error estimates, status, PPS statistics
// and node_timex_sync_status (1 when the kernel clock is synchronised).
type TimexCollector struct {
	read func(*unix.Timex) (int, error)
	tx   unix.Timex
}

// NewTimexCollector reads adjtimex(2).
func NewTimexCollector() *TimexCollector { return &TimexCollector{read: unix.Adjtimex} }

func (c *TimexCollector) Name() string { return "timex" }

// staNano: offsets and jitter are in nanoseconds, not microseconds.
const (
	staUnsync = 0x0040
	staNano   = 0x2000
	timeError = 5 // adjtimex's return when the clock is not synchronised
)

func (c *TimexCollector) Collect(e *Emitter) error {
	c.tx = unix.Timex{}
	state, err := c.read(&c.tx)
	if err != nil {
		return wrap(c.Name(), "adjtimex(2)", err)
	}
	emitTimex(e, &c.tx, state)
	return nil
}

// emitTimex reports tx the way node_exporter's timex collector does.
func emitTimex(e *Emitter, tx *unix.Timex, state int) {
	div := 1e6 // µs
	if tx.Status&staNano != 0 {
		div = 1e9
	}
	sync := 0.0
	if tx.Status&staUnsync == 0 && state != timeError {
		sync = 1
	}
	e.Gauge("node_timex_sync_status", sync)
	e.Gauge("node_timex_offset_seconds", float64(tx.Offset)/div)
	e.Gauge("node_timex_frequency_adjustment_ratio", 1+float64(tx.Freq)/65536/1e6)
	e.Gauge("node_timex_maxerror_seconds", float64(tx.Maxerror)/1e6)
	e.Gauge("node_timex_estimated_error_seconds", float64(tx.Esterror)/1e6)
	e.Gauge("node_timex_status", float64(tx.Status))
	e.Gauge("node_timex_loop_time_constant", float64(tx.Constant))
	e.Gauge("node_timex_tick_seconds", float64(tx.Tick)/1e6)
	e.Gauge("node_timex_pps_frequency_hertz", float64(tx.Ppsfreq)/65536)
	e.Gauge("node_timex_pps_jitter_seconds", float64(tx.Jitter)/div)
	e.Gauge("node_timex_pps_shift_seconds", float64(tx.Shift))
	e.Gauge("node_timex_pps_stability_hertz", float64(tx.Stabil)/65536)
	e.Counter("node_timex_pps_jitter_total", float64(tx.Jitcnt))
	e.Counter("node_timex_pps_calibration_total", float64(tx.Calcnt))
	e.Counter("node_timex_pps_error_total", float64(tx.Errcnt))
	e.Counter("node_timex_pps_stability_exceeded_total", float64(tx.Stbcnt))
	e.Gauge("node_timex_tai_offset_seconds", float64(tx.Tai))
}
