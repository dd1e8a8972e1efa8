package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Stats are a proxy's counters.
type Stats struct {
	Up       uint64 // bytes client → target
	Down     uint64 // bytes target → client
	Accepted uint64 // connections forwarded
	Refused  uint64 // connections closed at once because the link was cut
	Failed   uint64 // connections closed because the target did not answer
	Cuts     uint64 // calls to Cut that closed the link
	Active   int    // connections open now
}

// Proxy forwards TCP connections from its listen address to a target.
type Proxy struct {
	ln     net.Listener
	target string

	up, down, accepted, refused, failed, cuts atomic.Uint64

	mu     sync.Mutex
	tap    func() (up, down io.Writer)
	cut    bool
	closed bool
	conns  map[*link]struct{}
	wg     sync.WaitGroup
}

// link is one proxied connection: client side and target side.
type link struct{ client, target net.Conn }

func (l *link) close() {
	l.client.Close()
	l.target.Close()
}

// New listens on listen ("127.0.0.1:0" for a free port) and forwards to
// target.
func New(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s: %w", listen, err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Tap makes every connection accepted from now on hand each chunk it
// forwards to a writer of its own as well, just before forwarding it (so
// a tap sees a request before the other side can answer it): newConn is
// called once per connection and returns the writers of its two
// directions (client → target, target → client; nil: none). The writers
// run on the copying goroutines, so they must be quick and must not
// block; their errors are ignored. nil removes the tap.
func (p *Proxy) Tap(newConn func() (up, down io.Writer)) {
	p.mu.Lock()
	p.tap = newConn
	p.mu.Unlock()
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address connections are forwarded to.
func (p *Proxy) Target() string { return p.target }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	defer p.wg.Done()
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		p.failed.Add(1)
		c.Close()
		return
	}
	l := &link{client: c, target: t}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		p.refused.Add(1)
		l.close()
		return
	}
	p.conns[l] = struct{}{}
	var tapUp, tapDown io.Writer
	if p.tap != nil {
		tapUp, tapDown = p.tap()
	}
	p.mu.Unlock()
	p.accepted.Add(1)

	done := make(chan struct{}, 2)
	go func() { copyCounting(t, c, &p.up, tapUp); l.close(); done <- struct{}{} }()
	go func() { copyCounting(c, t, &p.down, tapDown); l.close(); done <- struct{}{} }()
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// copyCounting copies src to dst, adding every byte written to n and
// handing it to tap when set.
func copyCounting(dst io.Writer, src io.Reader, n *atomic.Uint64, tap io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		r, err := src.Read(buf)
		if r > 0 {
			if tap != nil {
				tap.Write(buf[:r]) // before the other side can answer it
			}
			w, werr := dst.Write(buf[:r])
			n.Add(uint64(w))
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.cut = true
	p.cuts.Add(1)
	for l := range p.conns {
		l.close()
	}
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.conns)
	p.mu.Unlock()
	return Stats{
		Up: p.up.Load(), Down: p.down.Load(), Accepted: p.accepted.Load(), Refused: p.refused.Load(),
		Failed: p.failed.Load(), Cuts: p.cuts.Load(), Active: active,
	}
}

// Sub returns the counters accumulated between an earlier snapshot and s
// (Active is s's).
func (s Stats) Sub(earlier Stats) Stats {
	return Stats{
		Up: s.Up - earlier.Up, Down: s.Down - earlier.Down, Accepted: s.Accepted - earlier.Accepted,
		Refused: s.Refused - earlier.Refused, Failed: s.Failed - earlier.Failed, Cuts: s.Cuts - earlier.Cuts,
		Active: s.Active,
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for l := range p.conns {
		l.close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}
