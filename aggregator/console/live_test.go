package console

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// startNATS runs an in-process nats-server and connects to it.
func startNATS(t testing.TB) *nats.Conn {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// leaseBook answers live requests on an agent's subject the way the
// agent's micro service does (lease_ms > 0 holds the watcher, 0 drops it)
// and records what it was asked, in arrival order.
type leaseBook struct {
	mu       sync.Mutex
	watchers map[string]bool
	asked    []int64 // lease_ms of every request
}

func (b *leaseBook) serve(m *nats.Msg) {
	var req codec.LiveRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		return
	}
	b.mu.Lock()
	if req.LeaseMS > 0 {
		b.watchers[req.Watcher] = true
	} else {
		delete(b.watchers, req.Watcher)
	}
	b.asked = append(b.asked, req.LeaseMS)
	n := len(b.watchers)
	b.mu.Unlock()
	doc, _ := json.Marshal(codec.LiveResponse{LeaseMS: req.LeaseMS, Watchers: n})
	m.Respond(doc)
}

func (b *leaseBook) state() (held int, asked int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.watchers), len(b.asked)
}

// TestLiveRestartKeepsLease: a host's stream ended and started again at
// once (a page re-rendered, Live toggled off and on) must leave the agent
// holding the lease. The console is one watcher id to the agent, so the
// old stream's lease_ms 0 must reach it before the new stream's lease.
func TestLiveRestartKeepsLease(t *testing.T) {
	nc := startNATS(t)
	book := &leaseBook{watchers: map[string]bool{}}
	if _, err := nc.Subscribe(codec.AgentSubject("s1", "h1", codec.EndpointLive), book.serve); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	c := New(Options{NC: nc, Name: "t", Log: slog.New(slog.DiscardHandler)})
	defer c.Close()
	sel := []codec.LiveSelector{{Name: "node_load1"}}

	if err := c.live.join(1, "s1", "h1", sel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first lease", func() bool { held, _ := book.state(); return held == 1 })
	const cycles = 40
	for i := range cycles {
		_, asked := book.state()
		c.live.leave(uint64(1+i), "s1", "h1")
		if err := c.live.join(uint64(2+i), "s1", "h1", sel); err != nil {
			t.Fatal(err)
		}
		// The stop and the new lease have both been answered.
		waitFor(t, "the stop and the new lease", func() bool { _, n := book.state(); return n >= asked+2 })
		if held, _ := book.state(); held != 1 {
			book.mu.Lock()
			t.Fatalf("cycle %d: the agent holds %d leases after a restart, want 1 (requests' lease_ms in order: %v)", i, held, book.asked[asked:])
			book.mu.Unlock()
		}
	}
	c.live.leave(cycles+1, "s1", "h1")
	waitFor(t, "the lease ended", func() bool { held, _ := book.state(); return held == 0 })
}
