package leaftap

import (
	"io"
	"maps"
	"sync"
)

// Op is one leaf protocol operation.
type Op struct {
	Up      bool   // leaf → hub
	Verb    string // LMSG, HMSG, LS+, LS-, PING, PONG, INFO, CONNECT, +OK, -ERR, …
	Subject string // messages and interest: the subject
	Reply   string // messages: the reply subject, "" when none
	Header  int    // HMSG: header bytes
	Size    int    // messages: payload bytes, header included
	// RequestKind is the kind the classifier gave the message, travelling
	// the other way on this connection, that named Subject as its reply
	// subject; "" when none did.
	RequestKind string
}

// Classifier names an operation's kind. It is called on the proxy's copy
// goroutines, so it must be quick and safe for concurrent use.
type Classifier func(Op) string

// Key is a kind and a direction.
type Key struct {
	Kind string
	Up   bool
}

// Counts are what a kind cost in one direction.
type Counts struct {
	Wire  float64 // bytes on the wire charged to it (compressed, framing included)
	Plain uint64  // its protocol bytes before compression
	Ops   uint64  // operations
}

// maxReplies bounds the reply subjects remembered per connection: the
// oldest are forgotten first (a request never answered).
const maxReplies = 4096

// Meter charges the bytes of leaf connections to operation kinds.
type Meter struct {
	classify Classifier

	mu       sync.Mutex
	counts   map[Key]Counts
	unparsed uint64 // bytes after a parse error (the rest of that direction)
}

// New returns a meter classifying operations with c.
func New(c Classifier) *Meter {
	return &Meter{classify: c, counts: map[Key]Counts{}}
}

// Conn returns the writers for a new connection's two directions: up is
// the leaf → hub bytes, down the hub → leaf bytes. It has the signature of
// a proxy tap (testbench/proxy.Proxy.Tap).
func (m *Meter) Conn() (up, down io.Writer) {
	c := &conn{m: m, replies: map[string]string{}}
	return &direction{c: c, up: true}, &direction{c: c}
}

// Snapshot returns the counts so far.
func (m *Meter) Snapshot() map[Key]Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.counts)
}

// Unparsed is the bytes that could not be parsed (after a protocol or
// decompression error the rest of that direction of that connection).
func (m *Meter) Unparsed() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unparsed
}

// Sub returns the counts of s minus an earlier snapshot.
func Sub(s, earlier map[Key]Counts) map[Key]Counts {
	out := map[Key]Counts{}
	for k, c := range s {
		e := earlier[k]
		d := Counts{Wire: c.Wire - e.Wire, Plain: c.Plain - e.Plain, Ops: c.Ops - e.Ops}
		if d != (Counts{}) {
			out[k] = d
		}
	}
	return out
}

// add adds c to k's counts.
func (m *Meter) add(k Key, c Counts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.counts[k]
	t.Wire += c.Wire
	t.Plain += c.Plain
	t.Ops += c.Ops
	m.counts[k] = t
}

func (m *Meter) addUnparsed(n int) {
	m.mu.Lock()
	m.unparsed += uint64(n)
	m.mu.Unlock()
}

// conn is one connection: the reply subjects each direction's requests
// named, keyed by subject.
type conn struct {
	m *Meter

	mu      sync.Mutex
	replies map[string]string // reply subject → the request's kind
	order   []string          // insertion order, for the bound
}

func (c *conn) remember(reply, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.replies[reply]; ok {
		return
	}
	if len(c.order) >= maxReplies {
		delete(c.replies, c.order[0])
		c.order = c.order[1:]
	}
	c.replies[reply] = kind
	c.order = append(c.order, reply)
}

// requestKind returns the kind of the request that named subject as its
// reply; a plain inbox is answered once, so it is forgotten then (a
// JetStream publish's reply subject is unique per publish too).
func (c *conn) requestKind(subject string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.replies[subject]
	if ok {
		delete(c.replies, subject)
	}
	return k
}
