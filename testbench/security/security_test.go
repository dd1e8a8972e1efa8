package security

import (
	"context"
	"testing"
	"time"
)

// TestCrossSiteAndTLS is the quick subset of make security: real
// nats-server leaves with real per-site credentials against the
// aggregator's hub with mutual TLS. Site A can write neither as site B
// nor as another of its hosts, and no leaf without a trusted certificate
// connects.
func TestCrossSiteAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	res, err := CrossSite(ctx, e)
	if err == nil {
		err = TLS(ctx, e, &res)
	}
	for _, l := range res.Log {
		t.Log(l)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Line(0))
	if res.AcceptedCrossSite != 0 || res.AcceptedCrossHost != 0 || res.RejectedCrossSite < 5 || res.RejectedCrossHost < 2 {
		t.Fatalf("cross-site rejected=%d accepted=%d, cross-host rejected=%d accepted=%d",
			res.RejectedCrossSite, res.AcceptedCrossSite, res.RejectedCrossHost, res.AcceptedCrossHost)
	}
	if !res.TLSPlaintextRefused {
		t.Fatal("a leaf without a trusted certificate connected")
	}
}
