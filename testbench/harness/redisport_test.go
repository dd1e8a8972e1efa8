package harness

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestStartRedisPortTaken: a redis-server whose port another process holds
// is reported as errPortTaken (StartRedis then tries another port), not
// mistaken for ready because something answers on the port.
func TestStartRedisPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	r, err := startRedis(context.Background(), t.TempDir(), port)
	if err == nil {
		r.Stop()
		t.Fatal("redis-server started on a port another listener holds")
	}
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("err = %v, want errPortTaken", err)
	}
	r, err = StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
}
