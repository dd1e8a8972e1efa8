package aggregator

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/security"
)

// TestClusterTLS starts embedded hubs whose routes require mutual TLS:
// two with certificates of the cluster's CA form routes; a third with a
// certificate of another CA never does.
func TestClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("three embedded hubs")
	}
	pki, err := security.MakePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = harness.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	route := func(i int) string { return fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]) }
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	start := func(i int, cert, key string, routes ...string) *hubForTest {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("hub-%d", i)
		cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
		cfg.NATS.Cluster = ClusterConfig{Name: "tls-test", Host: "127.0.0.1", Port: ports[i], Routes: routes}
		cfg.NATS.ClusterTLS = TLSConfig{CertFile: cert, KeyFile: key, CAFile: pki.CA}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ns, _, err := startHub(cfg, log.With("hub", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ns.Shutdown)
		return &hubForTest{routes: ns.NumRoutes}
	}
	a := start(0, pki.HubCert, pki.HubKey, route(1), route(2))
	b := start(1, pki.HubCert, pki.HubKey, route(0), route(2))
	rogue := start(2, pki.RogueLeafCert, pki.RogueLeafKey, route(0), route(1))
	err = harness.WaitFor(t.Context(), 20*time.Second, func() error {
		if a.routes() == 0 || b.routes() == 0 {
			return fmt.Errorf("routes: hub-0 %d, hub-1 %d", a.routes(), b.routes())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// hub-2 has been dialling and being dialled since it started: it must
	// not hold a route now nor within the next seconds (a route, once
	// formed, would show at once).
	err = harness.WaitFor(t.Context(), 3*time.Second, func() error {
		if n := rogue.routes(); n != 0 {
			return nil
		}
		return fmt.Errorf("no route")
	})
	if err == nil {
		t.Fatalf("the hub with a certificate of another CA formed %d routes", rogue.routes())
	}
	if a.routes() == 0 || b.routes() == 0 {
		t.Fatalf("trusted hubs lost their routes (%d, %d)", a.routes(), b.routes())
	}
	// The embedded servers log through slog: their start-up notice and the
	// rogue route's TLS failures are in the aggregator's log.
	out := logs.String()
	if !strings.Contains(out, "component=hub") || !strings.Contains(out, "Server is ready") {
		t.Fatalf("no hub start-up notice in the log:\n%.2000s", out)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(strings.ToLower(out), "tls") {
		t.Fatalf("the rogue route's TLS failure was not logged as an error:\n%.4000s", out)
	}
}

// lockedBuffer is an io.Writer several servers' goroutines log into.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type hubForTest struct{ routes func() int }
