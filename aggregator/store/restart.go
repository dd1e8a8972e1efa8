package store

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// health is what tells whether Redis kept the store's writes: the restart
// fence (a changed run_id, standalone only), the readiness probe
// (probe.go) and the persistence settings. A probe that finds writes lost
// makes writes forget their caches.
type health struct {
	*conn
	writes *writer // its caches dropped when a probe finds writes lost
	// fence notices a restarted Redis; nil for a Cluster or Sentinel
	// setup.
	fence *restartFence
	// probeLast is the value the last Probe wrote (probe.go).
	probeMu   sync.Mutex
	probeLast string
}

// ErrRestarted fails a connection to a Redis that restarted (its run_id
// changed) until the owner of the store has accepted the restart
// (Store.AcceptRestart): nothing is written to a Redis that may have come
// back on an older snapshot before the writes it lost are known.
var ErrRestarted = errors.New("store: redis restarted (run_id changed); writes wait until the aggregator has replayed what it may have lost")

// restartFence notices a standalone Redis coming back as a new process:
// every new connection reads INFO server's run_id. The first run_id is
// remembered; a different one fences new connections (ErrRestarted) and
// signals Restarted until AcceptRestart. A Redis Cluster or Sentinel
// setup (run_id per node, a failover changes it) is not fenced.
type restartFence struct {
	mu      sync.Mutex
	runID   string // accepted
	pending string // seen, not accepted yet
	ch      chan struct{}
	off     bool // INFO is refused to this user: no fence
}

func newRestartFence() *restartFence { return &restartFence{ch: make(chan struct{}, 1)} }

func (f *restartFence) onConnect(ctx context.Context, cn *redis.Conn) error {
	f.mu.Lock()
	off := f.off
	f.mu.Unlock()
	if off {
		return nil
	}
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		msg := strings.ToUpper(err.Error())
		if strings.Contains(msg, "NOPERM") || strings.Contains(msg, "UNKNOWN COMMAND") {
			// INFO is not allowed to this user: no fence (docs).
			f.mu.Lock()
			f.off = true
			f.mu.Unlock()
			return nil
		}
		// LOADING (a restarted Redis reading its snapshot) or a broken
		// connection: not a connection to write on before its run_id is
		// known.
		return err
	}
	id := infoField(info, "run_id")
	if id == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.runID == "":
		f.runID = id
	case id != f.runID:
		if f.pending != id {
			f.pending = id
			select {
			case f.ch <- struct{}{}:
			default:
			}
		}
		return ErrRestarted
	}
	return nil
}

// infoField returns field's value in an INFO reply ("" when absent).
func infoField(info, field string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Restarted receives when the Redis the store writes to restarted; new
// connections fail with ErrRestarted until AcceptRestart. Nil for a Redis
// Cluster or Sentinel setup.
func (s *health) Restarted() <-chan struct{} {
	if s.fence == nil {
		return nil
	}
	return s.fence.ch
}

// AcceptRestart lifts the fence: connections to the restarted Redis work
// again.
func (s *health) AcceptRestart() {
	if s.fence == nil {
		return
	}
	s.fence.mu.Lock()
	if s.fence.pending != "" {
		s.fence.runID, s.fence.pending = s.fence.pending, ""
	}
	s.fence.mu.Unlock()
}

// Persistence is what Redis reports about saving its data to disk.
type Persistence struct {
	// Off: neither RDB snapshots (CONFIG save "") nor AOF: a restart
	// comes back empty, whatever is held.
	Off bool
	// SnapshotAt is when the last RDB snapshot began (Unix seconds:
	// rdb_last_save_time minus rdb_last_bgsave_time_sec), 0 if unknown.
	SnapshotAt int64
	// AOF: the append-only file is on and its last write succeeded.
	AOF bool
	// AlwaysFsync: appendfsync always (each write is on disk when acked).
	AlwaysFsync bool
}

// Persistence reads INFO persistence (and CONFIG GET save/appendfsync,
// where CONFIG is allowed).
func (s *health) Persistence(ctx context.Context) (Persistence, error) {
	info, err := s.rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return Persistence{}, err
	}
	var p Persistence
	last, dur := parseInt(infoField(info, "rdb_last_save_time")), parseInt(infoField(info, "rdb_last_bgsave_time_sec"))
	if last > 0 {
		p.SnapshotAt = last - max(dur, 0)
	}
	p.AOF = infoField(info, "aof_enabled") == "1" && infoField(info, "aof_last_write_status") == "ok"
	if cfg, err := s.rdb.ConfigGet(ctx, "save").Result(); err == nil {
		p.Off = strings.TrimSpace(cfg["save"]) == "" && infoField(info, "aof_enabled") != "1"
	}
	if p.AOF {
		if cfg, err := s.rdb.ConfigGet(ctx, "appendfsync").Result(); err == nil {
			p.AlwaysFsync = cfg["appendfsync"] == "always"
		}
	}
	return p, nil
}

func parseInt(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
