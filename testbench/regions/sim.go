package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// The simulated fleet for the aggregation rule: hosts with node_exporter's
// CPU counters (2 CPUs × 8 modes), windows of simWidth published into one
// region through its hubs as fast as the region acknowledges them.
const (
	simWidth = 10_000
	simSites = 4
)

var simModes = []string{"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"}

func simSeries() []codec.Series {
	var out []codec.Series
	for cpu := range 2 {
		for _, m := range simModes {
			out = append(out, codec.Series{ID: uint32(len(out)), Name: "node_cpu_seconds_total", Kind: codec.Counter,
				Labels: []string{"cpu", fmt.Sprint(cpu), "mode", m}})
		}
	}
	return out
}

// simRate is host h's per-second rate of series i in window w.
func simRate(h, i, w int) float64 {
	return 0.002*float64((h*7+i*13+w*3)%97) + 0.01*float64(i%8)
}

// publishSim publishes windows [0, windows) of hosts hosts starting at
// base (Unix ms) and waits for every acknowledgement.
func publishSim(ctx context.Context, urls []string, hosts, windows int, base int64) error {
	nc, err := nats.Connect(joinURLs(urls), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2000))
	if err != nil {
		return err
	}
	series := simSeries()
	encs := make([]*codec.Encoder, hosts)
	counters := make([][]float64, hosts)
	for h := range hosts {
		if encs[h], err = codec.NewEncoder(codec.DefaultWireOptions()); err != nil {
			return err
		}
		counters[h] = make([]float64, len(series))
	}
	for w := range windows {
		var futs []jetstream.PubAckFuture
		for h := range hosts {
			site, host := fmt.Sprintf("sim%d", h%simSites), fmt.Sprintf("vm%04d", h)
			rs := make([]codec.Rollup, len(series))
			for i := range series {
				r := simRate(h, i, w)
				counters[h][i] += r * simWidth / 1000
				rs[i] = codec.Rollup{ID: uint32(i), Count: simWidth / 1000, Sum: r * simWidth / 1000, Min: r, Max: r, First: r, Last: counters[h][i]}
			}
			b, err := encs[h].Encode(nil, &codec.Batch{Agent: site + "/" + host, Site: site, Host: host, Seq: uint64(w + 1),
				Start: base + int64(w)*simWidth, Width: simWidth, Series: series, Rollups: rs})
			if err != nil {
				return err
			}
			m := &nats.Msg{Subject: "tele." + site + "." + host, Data: b, Header: nats.Header{}}
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%s/%d", site, host, w+1))
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				return fmt.Errorf("publish %s: %w", m.Subject, err)
			}
			futs = append(futs, f)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			return fmt.Errorf("window %d: acknowledgements still pending after 60 s", w)
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, f := range futs {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("window %d: %w", w, err)
			}
		}
	}
	return nil
}

func joinURLs(urls []string) string {
	out := ""
	for i, u := range urls {
		if i > 0 {
			out += ","
		}
		out += u
	}
	return out
}
