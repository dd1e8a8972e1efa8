package aggregator

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A member that takes a partition over (another member died or left)
// receives the frames the old owner had fetched but not acknowledged
// only after AckWait, while the frames stored since arrive at once: their
// deltas wait for bases that are still in the stream. Their age (since
// they were stored) already includes the old owner's silence and the
// takeover (make failover: the TTL, 10 s, plus AckWait, 10 s), so
// baseGrace alone could drop a delta whose base is on its way (a loaded
// host slows the takeover further). So a delta is given up only once the
// partition has also been consumed here for AckWait + baseGrace.
type takeovers struct {
	ackWait atomic.Int64 // time.Duration; tests shorten it
	mu      sync.Mutex
	at      map[int]time.Time // partition → when this member started consuming it
}

func newTakeovers(ackWait time.Duration) *takeovers {
	t := &takeovers{at: map[int]time.Time{}}
	t.ackWait.Store(int64(ackWait))
	return t
}

// took records that this member started consuming partition p now.
func (t *takeovers) took(p int) {
	t.mu.Lock()
	t.at[p] = time.Now()
	t.mu.Unlock()
}

// settled reports whether the partition of subject (tele.<site>.<host>.<p>)
// has been consumed here for AckWait + grace, so every frame an earlier
// owner held has come back; true when unknown (a partition not started
// through took, e.g. in tests).
func (t *takeovers) settled(subject string, grace time.Duration) bool {
	p, err := strconv.Atoi(subject[strings.LastIndexByte(subject, '.')+1:])
	if err != nil {
		return true
	}
	t.mu.Lock()
	at, ok := t.at[p]
	t.mu.Unlock()
	return !ok || time.Since(at) >= time.Duration(t.ackWait.Load())+grace
}
