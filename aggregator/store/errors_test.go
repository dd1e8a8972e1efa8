package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestErrorReason(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("store: write of 12 rollups: redis 10.0.0.1:6379: %w", err) }
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"deadline", context.DeadlineExceeded, ReasonTimeout},
		{"wrapped deadline", wrap(context.DeadlineExceeded), ReasonTimeout},
		{"net timeout", wrap(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), ReasonTimeout},
		{"timeout text", errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout"), ReasonTimeout},
		{"refused", wrap(opErr), ReasonConnection},
		{"refused text", errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), ReasonConnection},
		{"reset", wrap(syscall.ECONNRESET), ReasonConnection},
		{"eof", wrap(io.EOF), ReasonConnection},
		{"unexpected eof", io.ErrUnexpectedEOF, ReasonConnection},
		{"closed conn", wrap(net.ErrClosed), ReasonConnection},
		{"closed client", redis.ErrClosed, ReasonConnection},
		{"broken pipe", wrap(syscall.EPIPE), ReasonConnection},
		{"dns", &net.DNSError{Err: "no such host", Name: "redis"}, ReasonConnection},
		{"readonly", errors.New("READONLY You can't write against a read only replica."), ReasonReadonly},
		{"wrapped readonly", wrap(errors.New("READONLY You can't write against a read only replica.")), ReasonReadonly},
		{"oom", wrap(errors.New("OOM command not allowed when used memory > 'maxmemory'.")), ReasonOOM},
		{"moved", errors.New("MOVED 3999 127.0.0.1:6381"), ReasonCluster},
		{"ask", wrap(errors.New("ASK 3999 127.0.0.1:6381")), ReasonCluster},
		{"tryagain", errors.New("TRYAGAIN Multiple keys request during rehashing of slot"), ReasonCluster},
		{"clusterdown", errors.New("CLUSTERDOWN The cluster is down"), ReasonCluster},
		{"crossslot", wrap(errors.New("CROSSSLOT Keys in request don't hash to the same slot")), ReasonCluster},
		{"loading", errors.New("LOADING Redis is loading the dataset in memory"), ReasonLoading},
		{"noauth", errors.New("NOAUTH Authentication required."), ReasonAuth},
		{"wrongpass", wrap(errors.New("WRONGPASS invalid username-password pair or user is disabled.")), ReasonAuth},
		{"noperm", errors.New("NOPERM User ep has no permissions to run the 'flushall' command"), ReasonAuth},
		{"other reply", errors.New("ERR wrong number of arguments for 'zadd' command"), ReasonOther},
		{"wrongtype", wrap(errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")), ReasonOther},
		{"code word inside text", errors.New("store: the READONLYish thing"), ReasonOther},
		{"canceled", context.Canceled, ReasonOther},
	} {
		if got := ErrorReason(tc.err); got != tc.want {
			t.Errorf("%s: ErrorReason(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestErrorReasonRealReplies classifies replies of a real redis-server,
// through go-redis and through the write path.
func TestErrorReasonRealReplies(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.rdb.Set(ctx, "t:x", "y", 0).Err()
	if got := ErrorReason(err); got != ReasonOOM {
		t.Errorf("go-redis SET over maxmemory: %v classified %q, want oom", err, got)
	}
	err = s.Apply(ctx, batch(1, 1_700_000_040_000, 1.5))
	if got := ErrorReason(err); got != ReasonOOM {
		t.Errorf("Apply over maxmemory: %v classified %q, want oom", err, got)
	}
	if err := s.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	s.rdb.Close()
	if got := ErrorReason(s.rdb.Ping(ctx).Err()); got != ReasonConnection {
		t.Errorf("PING on a closed client classified %q, want connection", got)
	}
}
