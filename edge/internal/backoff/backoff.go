// Package backoff is the agent's one retry pause: capped exponential with
// jitter. Every agent of a fleet loses the same uplink at the same moment;
// without jitter they all retry in lockstep when it returns, and the hub
// sees the whole fleet's backlog at once, again and again.
//
// The forwarder and remote config both use it. A [Backoff] belongs to one
// goroutine (the retry loop that owns it). It imports only the standard
// library.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields pauses that double from Min up to Max, each drawn
// uniformly from the upper half of the nominal value ("equal jitter"): a
// pause is never shorter than half the nominal one, so the load a retry
// puts on the far side still halves with every failure, and two agents
// that failed together drift apart at the first retry.
type Backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// New returns a Backoff from min doubling to max (max < min is taken as
// min; min ≤ 0 as 1 ms).
func New(lo, hi time.Duration) *Backoff {
	lo = max(lo, time.Millisecond)
	return &Backoff{min: lo, max: max(hi, lo), cur: lo}
}

// Next returns the pause before the next attempt and doubles the nominal
// value for the one after, up to Max.
func (b *Backoff) Next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.max)
	half := d / 2
	return d - half + rand.N(half+1)
}

// Reset starts again from Min (after a success or a reconnect).
func (b *Backoff) Reset() { b.cur = b.min }
