package aggregator

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestConsoleClusterPush runs two aggregators whose hubs form one cluster
// and connects a browser's WebSocket to one of them: it is pushed the
// window of every host, those of the partitions the other member applies
// included (the consoles' notices, aggregator/console/notice.go), each
// once, and the close of an incident the other member's store expired
// (checkExpiryPushedAcross).
func TestConsoleClusterPush(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a two-node JetStream cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	names := []string{"agg-0", "agg-1"}
	aggs := startCluster(ctx, t, "ep-console", r.Addr, names, expiryOnOneMember)
	if err := harness.WaitFor(ctx, 30*time.Second, func() error { _, err := checkOwnership(aggs, names); return err }); err != nil {
		t.Fatal(err)
	}

	// A fleet page's WebSocket on agg-1 (the API has no token here).
	ws, _, err := websocket.Dial(ctx, "ws://"+aggs["agg-1"].HTTPAddr()+"/ui/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":""}`))
	if _, _, err := ws.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","fleet":true}`))
	// The subscription is applied by the connection's reader: push a probe
	// host's window on agg-1 until it arrives (probe windows are not counted).
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			aggs["agg-1"].console.Applied(&codec.Batch{Site: "probe", Host: "probe", Width: 60_000}, nil, time.Now())
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			close(stop)
			t.Fatal(err)
		}
		var m struct{ Type, Host string }
		if json.Unmarshal(data, &m) == nil && m.Type == "window" && m.Host == "probe" {
			break
		}
	}
	close(stop)
	<-stopped

	sent0, bytes0 := noticeCounters(t, aggs) // the probes'
	nc, err := nats.Connect(aggs["agg-0"].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	hosts := hostsPerPartition(t)
	for _, h := range hosts {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.Publish(pctx, "tele.s1."+h, hostBatch(t, h, 1), jetstream.WithMsgID("s1/"+h+"/1"))
		pcancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(hosts) && time.Now().Before(deadline) {
		rctx, rcancel := context.WithDeadline(ctx, deadline)
		_, data, err := ws.Read(rctx)
		rcancel()
		if err != nil {
			break
		}
		var m struct{ Type, Site, Host string }
		if json.Unmarshal(data, &m) == nil && m.Type == "window" && m.Host != "probe" {
			got[m.Host]++
		}
	}
	// Anything more within a second would be a duplicate.
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	for {
		_, data, err := ws.Read(rctx)
		if err != nil {
			break
		}
		var m struct{ Type, Host string }
		if json.Unmarshal(data, &m) == nil && m.Type == "window" && m.Host != "probe" {
			got[m.Host]++
		}
	}
	rcancel()
	applied := func(name string) int {
		n := 0
		for _, k := range aggs[name].Stats().Partitions {
			n += int(k)
		}
		return n
	}
	own := applied("agg-1")
	t.Logf("agg-1 applied %d of %d frames; its browser got windows of %d hosts", own, len(hosts), len(got))
	if own == len(hosts) || applied("agg-0") == 0 {
		t.Fatalf("agg-1 applied %d and agg-0 %d of %d frames: the test needs both to apply some", own, applied("agg-0"), len(hosts))
	}
	// What the notices cost: the bytes the members published (payload and
	// subject) per frame they applied.
	sent, bytes := noticeCounters(t, aggs)
	sent, bytes = sent-sent0, bytes-bytes0
	if sent != float64(len(hosts)) {
		t.Errorf("%v notices published for %d frames", sent, len(hosts))
	} else {
		t.Logf("RESULT cluster_notice_bytes_per_frame=%.0f notices=%.0f", bytes/sent, sent)
	}
	for _, h := range hosts {
		if got[h] != 1 {
			t.Errorf("host %s: %d windows pushed to agg-1's browser, want 1", h, got[h])
		}
	}
	checkExpiryPushedAcross(ctx, t, aggs, "agg-1")
}

// noticeCounters sums the members' notices published and their bytes.
func noticeCounters(t *testing.T, aggs map[string]*Aggregator) (sent, bytes float64) {
	t.Helper()
	for _, a := range aggs {
		var b strings.Builder
		if err := a.console.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "edgepulse_console_notices_sent_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				sent += f
			}
			if v, ok := strings.CutPrefix(line, "edgepulse_console_notice_bytes_sent_total "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				bytes += f
			}
		}
	}
	return sent, bytes
}
