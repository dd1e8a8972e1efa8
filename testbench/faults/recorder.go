package faults

import (
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// Recorder is a core NATS subscription on the hub to tele.*.* that
// records every batch that reaches the hub, whether or not the stream
// stores it (replays and retries show up as repeated sightings of one
// sequence number). It is the run's record of what the agents shipped.
type Recorder struct {
	nc *nats.Conn

	mu         sync.Mutex
	agents     map[string]map[uint64]*Sighting // agent → seq → sighting
	wire       map[string]*agentFrames
	msgs       int
	decodeErrs int
	conflicts  int // one sequence number seen with different content
	last       time.Time
}

// Sighting is one batch (agent, sequence number) seen at the hub.
type Sighting struct {
	Agent        string
	Seq          uint64
	Start, Width int64
	First        time.Time // first seen at the hub
	Count        int       // times seen
	hash         uint64    // of Members: a resend may be packed differently, never hold other values
	// Members are the windows the aggregator must hold for it: one per
	// series, in the chunks of the agent's series (aggregator/store).
	Members []Member
}

// Member is one expected stored window.
type Member struct {
	Agent, SID string
	Value      store.Point
}

// End is the window's end (Unix ms), the ZSET score.
func (s *Sighting) End() int64 { return s.Start + s.Width }

// NewRecorder subscribes on the hub at url. prefix is the aggregator's
// Redis key prefix ("ep:").
func NewRecorder(url, prefix string) (*Recorder, error) {
	r := &Recorder{agents: map[string]map[uint64]*Sighting{}, wire: map[string]*agentFrames{}}
	nc, err := nats.Connect(url, nats.Name("faults recorder"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("recorder: connect %s: %w", url, err)
	}
	sub, err := nc.Subscribe("tele.*.*", func(m *nats.Msg) { r.record(m, prefix) })
	if err != nil {
		nc.Close()
		return nil, err
	}
	// A slow recorder must not drop messages: no pending limits.
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	r.nc = nc
	return r, nil
}

// Close ends the subscription.
func (r *Recorder) Close() { r.nc.Close() }

// agentFrames decodes one agent's frames in whatever order they come: a
// delta frame waits until the frame it is packed against has been seen.
type agentFrames struct {
	states  map[uint64][]byte         // seq → decoder state after that frame
	waiting map[uint64][]*codec.Frame // base → frames packed against it
}

func (r *Recorder) record(m *nats.Msg, prefix string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs++
	r.last = now
	f, err := codec.ParseFrame(m.Data)
	if err != nil {
		r.decodeErrs++
		return
	}
	bySeq := r.agents[f.Agent]
	if bySeq == nil {
		bySeq = map[uint64]*Sighting{}
		r.agents[f.Agent] = bySeq
	}
	if s := bySeq[f.Seq]; s != nil {
		s.Count++
	} else {
		bySeq[f.Seq] = &Sighting{Agent: f.Agent, Seq: f.Seq, Start: f.Start, Width: f.Width, First: now, Count: 1}
	}
	af := r.wire[f.Agent]
	if af == nil {
		af = &agentFrames{states: map[uint64][]byte{}, waiting: map[uint64][]*codec.Frame{}}
		r.wire[f.Agent] = af
	}
	r.unpack(af, f, prefix)
}

// unpack decodes f if its base is known, records its members, and then
// the frames that waited for it.
func (r *Recorder) unpack(af *agentFrames, f *codec.Frame, prefix string) {
	dec := codec.NewDecoder()
	if f.Base != 0 {
		st := af.states[f.Base]
		if st == nil {
			af.waiting[f.Base] = append(af.waiting[f.Base], f)
			return
		}
		if err := dec.UnmarshalState(st); err != nil {
			r.decodeErrs++
			return
		}
	}
	b, err := dec.Apply(f)
	if err != nil {
		r.decodeErrs++
		return
	}
	if af.states[f.Seq] == nil {
		af.states[f.Seq] = dec.MarshalState(nil)
	}
	ms := members(b, prefix)
	h := fnv.New64a()
	for _, m := range ms {
		fmt.Fprintf(h, "%s|%s|%v\n", m.Agent, m.SID, m.Value)
	}
	s := r.agents[f.Agent][f.Seq]
	if s.Members == nil {
		s.Members, s.hash = ms, h.Sum64()
	} else if s.hash != h.Sum64() {
		r.conflicts++
	}
	next := af.waiting[f.Seq]
	delete(af.waiting, f.Seq)
	for _, w := range next {
		r.unpack(af, w, prefix)
	}
}

// members computes the windows the store writes for b.
func members(b *codec.Batch, prefix string) []Member {
	byID := make(map[uint32]*codec.Series, len(b.Series))
	for i := range b.Series {
		byID[b.Series[i].ID] = &b.Series[i]
	}
	end := b.Start + b.Width
	out := make([]Member, 0, len(b.Rollups))
	for i := range b.Rollups {
		r := &b.Rollups[i]
		ser := byID[r.ID]
		if ser == nil {
			continue // a malformed batch; the store would fail on it too
		}
		sid := store.SeriesID(store.Canon(ser.Name, store.SeriesLabels(b, ser)))
		out = append(out, Member{Agent: b.Site + "/" + b.Host, SID: sid, Value: store.WindowOf(end, b.Width, r)})
	}
	return out
}

// Sightings returns the agent's sightings ordered by sequence number.
func (r *Recorder) Sightings(agent string) []*Sighting {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Sighting, 0, len(r.agents[agent]))
	for _, s := range r.agents[agent] {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Contiguous returns the highest sequence number q such that every
// sequence from first to q has been seen (first-1 when first has not), and
// the window end of q's batch.
func (r *Recorder) Contiguous(agent string, first uint64) (uint64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, end := first-1, int64(0)
	for {
		s := r.agents[agent][q+1]
		if s == nil {
			return q, end
		}
		q, end = q+1, s.End()
	}
}

// Idle is how long ago the last message arrived.
func (r *Recorder) Idle() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.IsZero() {
		return 0
	}
	return time.Since(r.last)
}

// Counts returns messages seen, undecodable ones and sequence conflicts.
func (r *Recorder) Counts() (msgs, decodeErrs, conflicts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs, r.decodeErrs, r.conflicts
}
