package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// server is a target that, per connection, reads a 4-byte length n, then
// n bytes, and answers with reply(n) bytes; with echo it copies instead.
func server(t *testing.T, echo bool, reply func(n int) int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if echo {
					io.Copy(c, c)
					return
				}
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
				if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
					return
				}
				c.Write(bytes.Repeat([]byte{'r'}, reply(n)))
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool, state func() any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 5 s; %+v", what, state())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCountsBothDirections(t *testing.T) {
	cases := []struct{ up, down int }{
		{0, 0},
		{1, 7},
		{100_000, 3},
		{5, 200_000},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("up=%d,down=%d", c.up, c.down), func(t *testing.T) {
			p := newProxy(t, server(t, false, func(int) int { return c.down }))
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			msg := append([]byte{byte(c.up >> 24), byte(c.up >> 16), byte(c.up >> 8), byte(c.up)}, bytes.Repeat([]byte{'u'}, c.up)...)
			if _, err := conn.Write(msg); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn) // the server closes after replying
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.down {
				t.Fatalf("read %d bytes through the proxy, want %d", len(got), c.down)
			}
			eventually(t, "exact counters", func() bool {
				st := p.Stats()
				return st.Up == uint64(len(msg)) && st.Down == uint64(c.down) && st.Active == 0
			}, func() any { return p.Stats() })
			if st := p.Stats(); st.Accepted != 1 || st.Refused != 0 {
				t.Fatalf("stats %+v, want 1 accepted, 0 refused", st)
			}
		})
	}
}

func roundTrip(conn net.Conn, msg string) (string, error) {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(conn, buf)
	return string(buf), err
}

func TestCutAndRestore(t *testing.T) {
	p := newProxy(t, server(t, true, nil))
	before, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if got, err := roundTrip(before, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo before the cut = %q, %v", got, err)
	}

	p.Cut()
	if !p.IsCut() {
		t.Fatal("IsCut() = false after Cut")
	}
	// The open connection is closed: a read ends with EOF or an error.
	before.SetDeadline(time.Now().Add(5 * time.Second))
	var ne net.Error
	if n, err := before.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read on a cut connection = %d, %v; want EOF or reset", n, err)
	}
	// New connections are accepted by TCP and closed at once.
	during, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(during, "lost"); err == nil {
		t.Fatalf("echo through a cut link = %q, want an error", got)
	}
	during.Close()
	eventually(t, "one refused connection and none open", func() bool {
		st := p.Stats()
		return st.Refused == 1 && st.Active == 0 && st.Cuts == 1
	}, func() any { return p.Stats() })
	upAtCut := p.Stats().Up

	p.Restore()
	after, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if got, err := roundTrip(after, "again"); err != nil || got != "again" {
		t.Fatalf("echo after restore = %q, %v", got, err)
	}
	eventually(t, "counters after restore", func() bool {
		st := p.Stats()
		return st.Up == upAtCut+5 && st.Down == 10 && st.Accepted == 2
	}, func() any { return p.Stats() })
}

func TestTargetDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	target := ln.Addr().String()
	ln.Close()
	p := newProxy(t, target)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := roundTrip(c, "x"); err == nil {
		t.Fatal("echo with the target down succeeded")
	}
	eventually(t, "a failed connection", func() bool { return p.Stats().Failed == 1 }, func() any { return p.Stats() })
}

func TestCloseEndsConnections(t *testing.T) {
	p, err := New("127.0.0.1:0", server(t, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := roundTrip(c, "hi"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a connection open")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("proxy still listening after Close")
	}
}

func TestStatsSub(t *testing.T) {
	a := Stats{Up: 10, Down: 20, Accepted: 1, Active: 1}
	b := Stats{Up: 15, Down: 50, Accepted: 3, Refused: 2, Active: 2}
	if got, want := b.Sub(a), (Stats{Up: 5, Down: 30, Accepted: 2, Refused: 2, Active: 2}); got != want {
		t.Fatalf("Sub = %+v, want %+v", got, want)
	}
}
