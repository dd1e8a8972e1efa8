package collect

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edgepulse/edgepulse/codec"
)

// Desc describes one interned series.
type Desc struct {
	ID     uint32
	Name   string
	Kind   codec.Kind
	Labels []string // name/value pairs sorted by name

	key      string
	lastSeen atomic.Int64 // Unix ms of the newest sample
}

// String renders the series the way Prometheus does: name{a="b",...}.
func (d *Desc) String() string {
	var b strings.Builder
	b.WriteString(d.Name)
	if len(d.Labels) > 0 {
		b.WriteByte('{')
		for i := 0; i < len(d.Labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=%q", d.Labels[i], d.Labels[i+1])
		}
		b.WriteByte('}')
	}
	return b.String()
}

// Registry interns series and bounds their number.
type Registry struct {
	limit  int
	target []string // labels every series gets (SetTargetLabels)

	mu     sync.RWMutex
	ids    map[string]uint32
	descs  map[uint32]*Desc
	nextID uint32 // ids are never reused, so state keyed by an old id cannot leak into a new series

	rejected atomic.Uint64
	swept    uint64
}

// NewRegistry returns a registry that accepts at most limit series
// (0 means no limit).
func NewRegistry(limit int) *Registry {
	return &Registry{limit: limit, ids: make(map[string]uint32), descs: make(map[uint32]*Desc)}
}

// SetTargetLabels gives every series interned from now on the label
// pairs (name, value, …) — the agent's job — unless the series has a
// label of that name itself. Call it before the first sample.
func (r *Registry) SetTargetLabels(pairs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.target = slices.Clone(pairs)
}

// withTarget returns labels plus the target labels they do not have.
func (r *Registry) withTarget(labels []string) []string {
	out := slices.Clone(labels)
	for i := 0; i+1 < len(r.target); i += 2 {
		have := false
		for j := 0; j+1 < len(labels); j += 2 {
			have = have || labels[j] == r.target[i]
		}
		if !have {
			out = append(out, r.target[i], r.target[i+1])
		}
	}
	return out
}

// intern returns the series whose key is key, creating it from name, kind
// and labels on first sight, and marks it seen at ts. It returns nil when
// the cardinality limit refused a new series.
func (r *Registry) intern(key []byte, kind codec.Kind, name string, labels []string, ts int64) *Desc {
	r.mu.RLock()
	d := r.descs[r.idOf(key)]
	r.mu.RUnlock()
	if d == nil {
		r.mu.Lock()
		if d = r.descs[r.idOf(key)]; d == nil {
			if r.limit > 0 && len(r.descs) >= r.limit {
				r.mu.Unlock()
				r.rejected.Add(1)
				return nil
			}
			d = &Desc{ID: r.nextID, Name: name, Kind: kind, Labels: sortPairs(r.withTarget(labels)), key: string(key)}
			r.nextID++
			r.descs[d.ID] = d
			r.ids[d.key] = d.ID
		}
		r.mu.Unlock()
	}
	d.lastSeen.Store(ts)
	return d
}

// idOf looks a key up without allocating; a missing key maps to an id no
// series has.
func (r *Registry) idOf(key []byte) uint32 {
	if id, ok := r.ids[string(key)]; ok {
		return id
	}
	return math.MaxUint32
}

// Desc returns the series with the given id, or nil.
func (r *Registry) Desc(id uint32) *Desc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.descs[id]
}

// Sweep forgets every series with no sample since before (Unix ms) and
// returns their ids, so memory stays bounded while interfaces, mounts and
// devices come and go. Forgotten ids are never handed out again; a series
// that comes back gets a new one.
func (r *Registry) Sweep(before int64) []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []uint32
	for id, d := range r.descs {
		if d.lastSeen.Load() < before {
			gone = append(gone, id)
			delete(r.descs, id)
			delete(r.ids, d.key)
		}
	}
	r.swept += uint64(len(gone))
	return gone
}

// Swept counts series forgotten by Sweep.
func (r *Registry) Swept() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.swept
}

// Len is the number of interned series.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.descs)
}

// Rejected counts samples of new series refused by the cardinality limit.
func (r *Registry) Rejected() uint64 { return r.rejected.Load() }

// sortPairs sorts name/value pairs by name, in place.
func sortPairs(p []string) []string {
	n := len(p) / 2
	for i := 1; i < n; i++ {
		for j := i; j > 0 && p[2*j] < p[2*(j-1)]; j-- {
			p[2*j], p[2*(j-1)] = p[2*(j-1)], p[2*j]
			p[2*j+1], p[2*(j-1)+1] = p[2*(j-1)+1], p[2*j+1]
		}
	}
	return p
}
