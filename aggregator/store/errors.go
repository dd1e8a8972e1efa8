package store

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Reasons a Redis operation failed, as ErrorReason returns them: a small
// fixed set, so a counter labelled by reason stays bounded.
const (
	ReasonTimeout    = "timeout"    // a deadline passed (the network, the ctx or Redis busy)
	ReasonConnection = "connection" // refused, reset, EOF, closed, no route, unknown host
	ReasonReadonly   = "readonly"   // READONLY: a replica (a failover happened)
	ReasonOOM        = "oom"        // OOM command not allowed: maxmemory reached under noeviction
	ReasonCluster    = "cluster"    // MOVED, ASK, TRYAGAIN, CLUSTERDOWN, CROSSSLOT
	ReasonLoading    = "loading"    // LOADING: Redis is loading its dataset
	ReasonAuth       = "auth"       // NOAUTH, WRONGPASS, NOPERM
	ReasonOther      = "other"
)

// ErrorReasons lists every reason ErrorReason returns, in a fixed order
// (for exposing a counter per reason, zeros included).
var ErrorReasons = []string{ReasonTimeout, ReasonConnection, ReasonReadonly, ReasonOOM, ReasonCluster, ReasonLoading, ReasonAuth, ReasonOther}

// replyCodes maps the first word of a Redis error reply to its reason.
var replyCodes = map[string]string{
	"READONLY":    ReasonReadonly,
	"OOM":         ReasonOOM,
	"MOVED":       ReasonCluster,
	"ASK":         ReasonCluster,
	"TRYAGAIN":    ReasonCluster,
	"CLUSTERDOWN": ReasonCluster,
	"CROSSSLOT":   ReasonCluster,
	"LOADING":     ReasonLoading,
	"NOAUTH":      ReasonAuth,
	"WRONGPASS":   ReasonAuth,
	"NOPERM":      ReasonAuth,
}

// ErrorReason classifies an error of a Redis read or write into one of
// ErrorReasons ("" for nil). It looks at the error reply's code wherever
// the reply sits in a wrapped message (go-redis' replies and the write
// path's alike), then at network and deadline errors.
func ErrorReason(err error) string {
	if err == nil {
		return ""
	}
	if r := replyReason(err); r != "" {
		return r
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, redis.ErrClosed), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return ReasonConnection
	}
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return ReasonConnection
	}
	// Errors that lost their type on the way (text only).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline exceeded"):
		return ReasonTimeout
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "connection reset"),
		strings.Contains(msg, "broken pipe"), strings.Contains(msg, "use of closed network connection"),
		strings.Contains(msg, "connection closed"), strings.HasSuffix(msg, "EOF"):
		return ReasonConnection
	}
	return ReasonOther
}

// replyReason finds a Redis error reply's code: at the start of the
// message or after a wrapping "…: ".
func replyReason(err error) string {
	var re redis.Error
	msg := err.Error()
	if errors.As(err, &re) {
		msg = re.Error()
	}
	for {
		code, _, _ := strings.Cut(msg, " ")
		if r, ok := replyCodes[code]; ok {
			return r
		}
		i := strings.Index(msg, ": ")
		if i < 0 {
			return ""
		}
		msg = msg[i+2:]
	}
}
