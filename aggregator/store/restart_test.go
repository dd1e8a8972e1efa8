package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestRestartFence: after redis-server is killed and started again on its
// snapshot, new connections fail with ErrRestarted and Restarted fires,
// until AcceptRestart; a reconnect to the same process is not a restart.
func TestRestartFence(t *testing.T) {
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	s, err := Open(ctx, Options{Addr: r.Addr, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.rdb.Set(ctx, "t:k", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Same process, new connections: no fence.
	if err := s.rdb.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Get(ctx, "t:k").Err(); err != nil && !isConnReset(err) {
		t.Fatal(err)
	}
	if err := s.rdb.Get(ctx, "t:k").Err(); err != nil {
		t.Fatalf("after a reconnect to the same redis: %v", err)
	}
	r.Kill()
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 3 { // the pool's dead connections fail first
		if werr = s.rdb.Set(ctx, "t:k", "2", 0).Err(); errors.Is(werr, ErrRestarted) {
			break
		}
	}
	if !errors.Is(werr, ErrRestarted) {
		t.Fatalf("write to the restarted redis: %v, want ErrRestarted", werr)
	}
	select {
	case <-s.Restarted():
	case <-time.After(5 * time.Second):
		t.Fatal("Restarted did not fire")
	}
	s.AcceptRestart()
	if err := s.rdb.Set(ctx, "t:k", "2", 0).Err(); err != nil {
		t.Fatalf("after AcceptRestart: %v", err)
	}
}

func isConnReset(err error) bool { return err != nil && !errors.Is(err, ErrRestarted) }

// TestPersistence: save "" without AOF is Off; a SAVE sets SnapshotAt.
func TestPersistence(t *testing.T) {
	ctx := context.Background()
	s := openStore(t) // the harness runs redis-server --save "" --appendonly no
	p, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Off || p.AOF {
		t.Fatalf("save \"\", no AOF: %+v, want Off", p)
	}
	if err := s.rdb.ConfigSet(ctx, "save", "60 1").Err(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	if err := s.rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if p, err = s.Persistence(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Off || p.SnapshotAt < before-1 {
		t.Fatalf("after SAVE with save 60 1: %+v, want on with SnapshotAt ≥ %d", p, before-1)
	}
}
