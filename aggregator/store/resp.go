package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The write path sends its pipelines as RESP written by hand over its own
// connections: building a go-redis command per rollup (an interface slice,
// a command object, a reply object) cost more CPU than decoding the
// frames, and a write needs no reply but errors. Reads stay on go-redis.

// respPipe is a pipeline of commands encoded as RESP2.
type respPipe struct {
	buf []byte
	n   int // commands
}

// cmd starts a command of nargs arguments (its name included).
func (p *respPipe) cmd(nargs int) {
	p.n++
	p.buf = append(p.buf, '*')
	p.buf = strconv.AppendInt(p.buf, int64(nargs), 10)
	p.buf = append(p.buf, '\r', '\n')
}

func (p *respPipe) str(s string) {
	p.buf = append(p.buf, '$')
	p.buf = strconv.AppendInt(p.buf, int64(len(s)), 10)
	p.buf = append(p.buf, '\r', '\n')
	p.buf = append(p.buf, s...)
	p.buf = append(p.buf, '\r', '\n')
}

func (p *respPipe) bytes(b []byte) {
	p.buf = append(p.buf, '$')
	p.buf = strconv.AppendInt(p.buf, int64(len(b)), 10)
	p.buf = append(p.buf, '\r', '\n')
	p.buf = append(p.buf, b...)
	p.buf = append(p.buf, '\r', '\n')
}

func (p *respPipe) int(v int64) {
	var tmp [20]byte
	p.bytes(strconv.AppendInt(tmp[:0], v, 10))
}

// args appends a whole command of string arguments.
func (p *respPipe) args(a ...string) {
	p.cmd(len(a))
	for _, s := range a {
		p.str(s)
	}
}

// respConn is one connection of the write path.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

// errReply is an error reply of Redis (the connection stays usable).
type errReply string

func (e errReply) Error() string { return "redis: " + string(e) }

// dialResp connects and authenticates like the go-redis client.
func (s *Store) dialResp(ctx context.Context) (*respConn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", s.opts.Addr)
	if err != nil {
		return nil, err
	}
	rc := &respConn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	var p respPipe
	if s.password != "" {
		if s.opts.Username != "" {
			p.args("AUTH", s.opts.Username, s.password)
		} else {
			p.args("AUTH", s.password)
		}
	}
	if s.opts.DB != 0 {
		p.args("SELECT", strconv.Itoa(s.opts.DB))
	}
	if p.n > 0 {
		if err := rc.do(ctx, &p); err != nil {
			c.Close()
			return nil, err
		}
	}
	return rc, nil
}

// do writes p and reads its replies. It returns the first error reply
// (after reading them all) or an I/O error, after which the connection
// must be closed.
func (rc *respConn) do(ctx context.Context, p *respPipe) error {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(writeTimeoutDefault)
	}
	rc.c.SetDeadline(dl)
	if _, err := rc.c.Write(p.buf); err != nil {
		return err
	}
	return readReplies(rc.r, p.n, 0)
}

// readReplies reads n replies: the first error reply, after reading them
// all, or the first failure to read (the connection is then unusable).
func readReplies(r *bufio.Reader, n, depth int) error {
	var first error
	for range max(n, 0) {
		err := readReply(r, depth)
		var er errReply
		if errors.As(err, &er) {
			if first == nil {
				first = err
			}
			continue
		}
		if err != nil {
			return err
		}
	}
	return first
}

// writeTimeoutDefault bounds a write whose ctx has no deadline.
const writeTimeoutDefault = 30 * time.Second

// readReply reads and discards one RESP2 reply, returning an error reply
// as errReply.
func readReply(r *bufio.Reader, depth int) error {
	if depth > 8 {
		return errors.New("redis: reply nested too deep")
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("redis: malformed reply %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return errReply(string(body))
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return fmt.Errorf("redis: bulk length %q: %w", body, err)
		}
		if n < 0 {
			return nil
		}
		_, err = r.Discard(n + 2)
		return err
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return fmt.Errorf("redis: array length %q: %w", body, err)
		}
		return readReplies(r, n, depth+1)
	}
	return fmt.Errorf("redis: unknown reply type %q", line[0])
}

// getConn takes an idle write connection or dials one.
func (s *Store) getConn(ctx context.Context) (*respConn, error) {
	select {
	case rc := <-s.conns:
		return rc, nil
	default:
	}
	return s.dialResp(ctx)
}

// putConn keeps a healthy connection for reuse (a few are kept).
func (s *Store) putConn(rc *respConn) {
	select {
	case s.conns <- rc:
	default:
		rc.c.Close()
	}
}

// execResp sends the pipelines one after the other on a write connection,
// each only when the one before had no error reply.
func (s *Store) execResp(ctx context.Context, ps ...*respPipe) error {
	rc, err := s.getConn(ctx)
	if err != nil {
		return fmt.Errorf("redis %s: %w", s.opts.Addr, err)
	}
	for _, p := range ps {
		if p.n == 0 {
			continue
		}
		if err = rc.do(ctx, p); err != nil {
			break
		}
	}
	var er errReply
	if err != nil && !errors.As(err, &er) {
		rc.c.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("redis %s: connection closed: %w", s.opts.Addr, err)
		}
		return fmt.Errorf("redis %s: %w", s.opts.Addr, err)
	}
	s.putConn(rc)
	return err
}

// closeConns closes the idle write connections.
func (s *Store) closeConns() {
	for {
		select {
		case rc := <-s.conns:
			rc.c.Close()
		default:
			return
		}
	}
}
