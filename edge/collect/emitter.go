package collect

import (
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/queue"
)

// Emitter is what collectors report values through. It is reset at the
// start of every cycle and reuses its buffers.
type Emitter struct {
	reg     *Registry
	ts      int64
	samples []queue.Sample
	key     []byte
}

// NewEmitter returns an emitter that interns series in reg.
func NewEmitter(reg *Registry) *Emitter {
	return &Emitter{reg: reg, samples: make([]queue.Sample, 0, 1024), key: make([]byte, 0, 256)}
}

// Reset starts a new cycle at ts (Unix ms), keeping the buffers.
func (e *Emitter) Reset(ts int64) {
	e.ts = ts
	e.samples = e.samples[:0]
}

// Samples returns the samples emitted since Reset. The slice is reused by
// the next cycle.
func (e *Emitter) Samples() []queue.Sample { return e.samples }

// Registry returns the registry series are interned in.
func (e *Emitter) Registry() *Registry { return e.reg }

// Gauge reports a value that goes up and down. labels are name/value pairs.
func (e *Emitter) Gauge(name string, v float64, labels ...string) {
	e.emit(codec.Gauge, name, v, labels)
}

// Counter reports a monotonically increasing value.
func (e *Emitter) Counter(name string, v float64, labels ...string) {
	e.emit(codec.Counter, name, v, labels)
}

func (e *Emitter) emit(kind codec.Kind, name string, v float64, labels []string) {
	k := append(e.key[:0], name...)
	for _, l := range labels {
		k = append(k, 0)
		k = append(k, l...)
	}
	e.key = k
	d := e.reg.intern(k, kind, name, labels, e.ts)
	if d == nil {
		return
	}
	e.samples = append(e.samples, queue.Sample{TS: e.ts, Value: v, Series: d.ID})
}
