package leaftap

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/testbench/proxy"
)

// classify names kinds by subject, and replies by their request's kind.
func classify(op Op) string {
	switch {
	case op.RequestKind != "":
		return op.RequestKind + "-reply"
	case op.Verb == "PING" || op.Verb == "PONG":
		return "ping"
	case op.Verb == "LS+" || op.Verb == "LS-":
		return "interest"
	case op.Subject != "":
		head, _, _ := strings.Cut(op.Subject, ".")
		return head
	}
	return "other"
}

// link starts a hub and a leaf whose remote goes through a tapped proxy.
func link(t *testing.T, compression string) (hub, leaf *server.Server, px *proxy.Proxy, m *Meter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lp := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hub, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, ServerName: "hub", NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: lp, Compression: server.CompressionOpts{Mode: compression}}})
	if err != nil {
		t.Fatal(err)
	}
	go hub.Start()
	t.Cleanup(hub.Shutdown)
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	px, err = proxy.New("127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", lp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	m = New(classify)
	px.Tap(m.Conn)
	u, _ := url.Parse("nats-leaf://" + px.Addr())
	leaf, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, ServerName: "leaf", NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}, IgnoreDiscoveredServers: true,
			Compression: server.CompressionOpts{Mode: compression}}}}})
	if err != nil {
		t.Fatal(err)
	}
	go leaf.Start()
	t.Cleanup(leaf.Shutdown)
	if !leaf.ReadyForConnections(10 * time.Second) {
		t.Fatal("leaf not ready")
	}
	waitFor(t, func() bool { return hub.NumLeafNodes() == 1 && leaf.NumLeafNodes() == 1 })
	return hub, leaf, px, m
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMeterChargesEveryByte sends requests, replies, messages with
// headers and interest across a real leaf link and checks that every
// byte the proxy counted is charged to a kind, and to the right one.
func TestMeterChargesEveryByte(t *testing.T) {
	for _, mode := range []string{server.CompressionOff, server.CompressionS2Best} {
		t.Run(mode, func(t *testing.T) {
			hub, leaf, px, m := link(t, mode)
			hc, err := nats.Connect(hub.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			if _, err := hc.Subscribe("svc.>", func(msg *nats.Msg) { msg.Respond([]byte("12345678")) }); err != nil {
				t.Fatal(err)
			}
			got := make(chan *nats.Msg, 100)
			if _, err := hc.ChanSubscribe("data.>", got); err != nil {
				t.Fatal(err)
			}
			hc.Flush()
			lc, err := nats.Connect(leaf.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer lc.Close()
			// Interest crosses the link before the leaf can route to it.
			waitFor(t, func() bool {
				_, err := lc.Request("svc.time", nil, 200*time.Millisecond)
				return err == nil
			})
			before := m.Snapshot()
			const n = 20
			for i := range n {
				if _, err := lc.Request("svc.time", nil, 5*time.Second); err != nil {
					t.Fatal(err)
				}
				msg := nats.NewMsg("data.frame")
				msg.Header.Set("Nats-Msg-Id", fmt.Sprintf("s1/h1/%d", i))
				msg.Data = []byte(strings.Repeat("payload ", 40))
				if err := lc.PublishMsg(msg); err != nil {
					t.Fatal(err)
				}
				<-got
			}
			d := Sub(m.Snapshot(), before)
			for _, k := range []Key{{"svc", true}, {"svc-reply", false}, {"data", true}} {
				if d[k].Ops != n {
					t.Errorf("%v: %d operations, want %d (%v)", k, d[k].Ops, n, d)
				}
				if d[k].Wire <= 0 {
					t.Errorf("%v: no wire bytes charged", k)
				}
			}
			if want := uint64(n * (len("HMSG data.frame 00 000\r\n") + 320 + 2)); d[Key{"data", true}].Plain < want {
				t.Errorf("data: %d plain bytes, want at least %d", d[Key{"data", true}].Plain, want)
			}
			if mode == server.CompressionS2Best && d[Key{"data", true}].Wire >= float64(d[Key{"data", true}].Plain) {
				t.Errorf("data: %.0f wire bytes for %d plain: s2 not undone", d[Key{"data", true}].Wire, d[Key{"data", true}].Plain)
			}
			// Every byte the proxy counted is charged (the link is quiet).
			waitFor(t, func() bool {
				var up, down float64
				for k, c := range m.Snapshot() {
					if k.Up {
						up += c.Wire
					} else {
						down += c.Wire
					}
				}
				st := px.Stats()
				return m.Unparsed() == 0 && int64(up+0.5) == int64(st.Up) && int64(down+0.5) == int64(st.Down)
			})
			if m.Unparsed() != 0 {
				t.Errorf("%d bytes unparsed", m.Unparsed())
			}
		})
	}
}

// TestMessageArgs reads every shape of a leaf message line.
func TestMessageArgs(t *testing.T) {
	for _, tc := range []struct {
		verb, line     string
		subject, reply string
		hdr, size      int
		bad            bool
	}{
		{"LMSG", "tele.s1.h1 12", "tele.s1.h1", "", 0, 12, false},
		{"LMSG", "ep.time.s1.h1 _INBOX.a.b 0", "ep.time.s1.h1", "_INBOX.a.b", 0, 0, false},
		{"LMSG", "ep.time.s1.h1 + _INBOX.a.b q1 q2 8", "ep.time.s1.h1", "_INBOX.a.b", 0, 8, false},
		{"LMSG", "ep.time.s1.h1 | q1 8", "ep.time.s1.h1", "", 0, 8, false},
		{"HMSG", "tele.s1.h1 _INBOX.x.y 60 800", "tele.s1.h1", "_INBOX.x.y", 60, 800, false},
		{"HMSG", "tele.s1.h1 60 800", "tele.s1.h1", "", 60, 800, false},
		{"HMSG", "tele.s1.h1 + r q 60 800", "tele.s1.h1", "r", 60, 800, false},
		{"HMSG", "tele.s1.h1 900 800", "", "", 0, 0, true},
		{"LMSG", "tele.s1.h1", "", "", 0, 0, true},
		{"LMSG", "tele.s1.h1 -1", "", "", 0, 0, true},
		{"LMSG", "tele.s1.h1 + 8", "", "", 0, 0, true},
	} {
		op := Op{Verb: tc.verb}
		var args [][]byte
		for _, a := range strings.Fields(tc.line) {
			args = append(args, []byte(a))
		}
		err := messageArgs(&op, args)
		if (err != nil) != tc.bad {
			t.Errorf("%s %s: err %v, want bad=%v", tc.verb, tc.line, err, tc.bad)
			continue
		}
		if !tc.bad && (op.Subject != tc.subject || op.Reply != tc.reply || op.Header != tc.hdr || op.Size != tc.size) {
			t.Errorf("%s %s: %+v", tc.verb, tc.line, op)
		}
	}
}

// TestGarbageCountedNotFatal: a direction that is not the leaf protocol
// is counted as unparsed, and the meter keeps working.
func TestGarbageCountedNotFatal(t *testing.T) {
	m := New(classify)
	up, down := m.Conn()
	up.Write([]byte("PING\r\n"))
	up.Write([]byte("LMSG x.y notanumber\r\nmore bytes"))
	up.Write([]byte("PONG\r\n"))
	down.Write([]byte("PONG\r\n"))
	if m.Unparsed() == 0 {
		t.Fatal("garbage not counted as unparsed")
	}
	s := m.Snapshot()
	if s[Key{"ping", true}].Ops != 1 || s[Key{"ping", false}].Ops != 1 {
		t.Fatalf("%v", s)
	}
}
