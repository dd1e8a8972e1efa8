package agent

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestSdNotify receives the notifications on a real unixgram socket, as
// systemd would.
func TestSdNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	t.Setenv("WATCHDOG_USEC", "2000000")
	if got := watchdogInterval(); got != time.Second {
		t.Fatalf("watchdog interval %v, want 1s", got)
	}
	t.Setenv("WATCHDOG_PID", "1") // another process
	if got := watchdogInterval(); got != 0 {
		t.Fatalf("watchdog for another pid: interval %v, want 0", got)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
}
