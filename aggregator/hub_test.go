package aggregator

import (
	"fmt"
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
	start := func(i int, cert, key string, routes ...string) *hubForTest {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("hub-%d", i)
		cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
		cfg.NATS.Cluster = ClusterConfig{Name: "tls-test", Host: "127.0.0.1", Port: ports[i], Routes: routes}
		cfg.NATS.ClusterTLS = TLSConfig{CertFile: cert, KeyFile: key, CAFile: pki.CA}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ns, _, err := startHub(cfg)
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
}

type hubForTest struct{ routes func() int }
