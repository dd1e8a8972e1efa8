package backhaul

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/testbench/leaftap"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// TestBackhaulShort is `make backhaul -short` under go test: 1 site × 2
// hosts (one on this machine's /proc), 5 s windows, 40 s. It fails when
// the pipeline is broken: no window stored, a window lost, a stored value
// that differs from the agent's, or a meter that measured nothing.
func TestBackhaulShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes for about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o := ShortOptions()
	o.Dir, o.Progress = t.TempDir(), testWriter{t}
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Log(out.String())
	f := r.Fidelity
	if f.WindowsStored == 0 || f.WindowsStored != f.WindowsExpected {
		t.Errorf("windows stored %d of %d expected", f.WindowsStored, f.WindowsExpected)
	}
	if f.Checked == 0 || f.Mismatches > 0 || f.Missing > 0 {
		t.Errorf("fidelity: %d values checked, %d mismatches, %d missing: %v", f.Checked, f.Mismatches, f.Missing, f.Examples)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
	if r.Edgepulse.Up == 0 || r.Edgepulse.Payload == 0 || r.Edgepulse.Messages < uint64(r.Hosts*r.Windows) {
		t.Errorf("uplink measured nothing sensible: %+v for %d hosts × %d windows", r.Edgepulse, r.Hosts, r.Windows)
	}
	for p := range nProtos {
		if b := r.Baselines[p]; b.Payload == 0 || b.Up <= b.Payload {
			t.Errorf("baseline %s: %+v (wire must exceed the bodies)", protoNames[p], b)
		}
	}
	// The breakdown by kind accounts for the proxy's bytes (up to chunks
	// in flight at the two snapshots) and sees every frame and its ack.
	var up, down float64
	for k, c := range r.Breakdown {
		if k.Up {
			up += c.Wire
		} else {
			down += c.Wire
		}
	}
	for _, d := range []struct {
		name  string
		tap   float64
		proxy uint64
	}{{"up", up, r.Edgepulse.Up}, {"down", down, r.Edgepulse.Down}} {
		if diff := d.tap - float64(d.proxy); diff > max(256, 0.01*float64(d.proxy)) || -diff > max(256, 0.01*float64(d.proxy)) {
			t.Errorf("breakdown %s: %.0f B by kind, the proxy counted %d", d.name, d.tap, d.proxy)
		}
	}
	if r.TapUnparsed > 0 {
		t.Errorf("%d uplink bytes the tap could not parse", r.TapUnparsed)
	}
	n := uint64(r.Hosts * r.Windows)
	if f, a := r.Breakdown[leaftap.Key{Kind: kindFrames, Up: true}].Ops, r.Breakdown[leaftap.Key{Kind: kindAcks}].Ops; f < n || a+uint64(r.Hosts) < f {
		t.Errorf("breakdown: %d frames and %d acks for %d hosts × %d windows", f, a, r.Hosts, r.Windows)
	}
	if r.SeriesMin == 0 {
		t.Error("no series per host")
	}
	if len(r.Techniques) == 0 || r.Techniques[0].BytesPerHostMin == 0 {
		t.Errorf("techniques table empty: %+v", r.Techniques)
	}
}
