package collect

import (
	"fmt"
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
	limit int

	mu    sync.RWMutex
	ids   map[string]uint32
	descs []*Desc

	rejected atomic.Uint64
}

// NewRegistry returns a registry that accepts at most limit series
// (0 means no limit).
func NewRegistry(limit int) *Registry {
	return &Registry{limit: limit, ids: make(map[string]uint32)}
}

// intern returns the id of the series whose key is key, creating it from
// name, kind and labels on first sight. ok is false when the cardinality
// limit refused a new series.
func (r *Registry) intern(key []byte, kind codec.Kind, name string, labels []string) (id uint32, ok bool) {
	r.mu.RLock()
	id, ok = r.ids[string(key)] // no allocation for the lookup
	r.mu.RUnlock()
	if ok {
		return id, true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok = r.ids[string(key)]; ok {
		return id, true
	}
	if r.limit > 0 && len(r.descs) >= r.limit {
		r.rejected.Add(1)
		return 0, false
	}
	d := &Desc{ID: uint32(len(r.descs)), Name: name, Kind: kind, Labels: sortPairs(slices.Clone(labels))}
	r.descs = append(r.descs, d)
	r.ids[string(key)] = d.ID
	return d.ID, true
}

// Desc returns the series with the given id, or nil.
func (r *Registry) Desc(id uint32) *Desc {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if int(id) >= len(r.descs) {
		return nil
	}
	return r.descs[id]
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
