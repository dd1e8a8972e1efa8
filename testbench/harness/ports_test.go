package harness

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestWaitLogOwnLines: a process restarted under the same name appends to
// the same log; WaitLog must return the address the new process logged,
// not the old one's (which another process may hold by now), and wait
// until the new one has logged it.
func TestWaitLogOwnLines(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	say := func(port int, delay string) *Proc {
		t.Helper()
		p, err := Start("srv", dir, nil, "/bin/sh", "-c",
			"sleep "+delay+"; echo 'Listening for client connections on 127.0.0.1:"+strconv.Itoa(port)+"'")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := say(1111, "0")
	if _, _, err := WaitNATS(ctx, first, false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	first.Stop()
	second := say(2222, "0.3")
	addr, _, err := WaitNATS(ctx, second, false, 5*time.Second)
	if err != nil || addr != "127.0.0.1:2222" {
		t.Fatalf("WaitNATS of the restarted process = %q, %v; want 127.0.0.1:2222", addr, err)
	}
}

// TestWaitRedisReadyPortTaken: a Sentinel (or redis-server) told a port
// another process holds is reported as errPortTaken, so OnFreePorts tries
// other ports; one on a free port is ready.
func TestWaitRedisReadyPortTaken(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	taken := ln.Addr().(*net.TCPAddr).Port
	calls := 0
	err = OnFreePorts(1, func(ports []int) error {
		calls++
		if calls == 1 {
			ports[0] = taken // as if another process took it after FreePort
		}
		p, err := Start("redis", dir, nil, bin, "--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir)
		if err != nil {
			return err
		}
		t.Cleanup(p.Stop)
		err = waitRedisReady(context.Background(), p, "127.0.0.1:"+strconv.Itoa(ports[0]))
		if calls == 1 && !errors.Is(err, errPortTaken) {
			t.Errorf("on a taken port: %v, want errPortTaken", err)
		}
		return err
	})
	if err != nil || calls != 2 {
		t.Fatalf("OnFreePorts: %v after %d starts, want ready on the second", err, calls)
	}
}
