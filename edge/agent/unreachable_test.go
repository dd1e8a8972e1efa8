package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogsWhileNATSUnreachable: an agent whose NATS does not answer (a
// listener that never speaks the protocol) starts, spools, and says in its
// log that NATS is unreachable; it logged nothing before.
func TestLogsWhileNATSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	a, err := New(fixtureConfig(t, "nats://"+ln.Addr().String()), log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "NATS unreachable") {
		if time.Now().After(deadline) {
			t.Fatalf("no 'NATS unreachable' in the log:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "NATS unreachable"); n != 1 {
		t.Errorf("%d 'NATS unreachable' lines within a minute, want 1", n)
	}
}

// syncBuffer is a bytes.Buffer several goroutines log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
