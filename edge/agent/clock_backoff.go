package agent

import "time"

// clockBackoff schedules the clock checks: every base at the start and
// after the offset moved, doubling to cap while it holds still. Each check
// is a request and a reply on the uplink (about 75 B each way after s2),
// and a clock that NTP keeps drifts by milliseconds an hour, so checking a
// stable offset every minute bought nothing; a clock that does move (a
// step) is seen locally (clock.jumped) or by the next check, which then
// drops back to base.
type clockBackoff struct {
	base, cap time.Duration
	// still is how far the offset may move between two checks and count
	// as holding still: MaxOffset/4, well below what gets corrected.
	still time.Duration

	cur  time.Duration // the interval after the last good check
	last time.Duration // the offset it measured
	have bool          // last is set
}

func newClockBackoff(base, cap, still time.Duration) *clockBackoff {
	return &clockBackoff{base: base, cap: max(cap, base), still: still}
}

// measured returns the wait after a good check that measured off;
// switched reports that it turned the correction on or off.
func (b *clockBackoff) measured(off time.Duration, switched bool) time.Duration {
	switch {
	case !b.have || switched || (off-b.last).Abs() >= b.still:
		b.cur = b.base
	default:
		b.cur = min(2*b.cur, b.cap)
	}
	b.last, b.have = off, true
	return b.cur
}

// failed returns the wait after a check no aggregator answered: a second
// until the first good one, else base (a failed check costs little: the
// link is down, or no responder answered at once). The backoff level is
// kept for the next good check.
func (b *clockBackoff) failed(measuredBefore bool) time.Duration {
	if !measuredBefore {
		return time.Second
	}
	return b.base
}

// reset starts over from base (the own clock stepped).
func (b *clockBackoff) reset() { b.have = false }
