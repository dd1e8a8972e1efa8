package security

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Result counts what the checks tried and what got through.
type Result struct {
	RejectedCrossSite, AcceptedCrossSite int // writes as another site
	RejectedCrossHost, AcceptedCrossHost int // an agent writing as another host of its site
	TLSPlaintextRefused                  bool
	Log                                  []string // one line per attempt
}

func (r *Result) logf(format string, args ...any) {
	r.Log = append(r.Log, fmt.Sprintf(format, args...))
}

var seq uint64

func batch(site, host string) []byte {
	seq++
	enc, err := codec.NewEncoder(codec.WireOptions{Dictionary: true}) // a keyframe: decodes on its own
	if err != nil {
		panic(err)
	}
	p, err := enc.Encode(nil, &codec.Batch{
		Agent: site + "/" + host, Site: site, Host: host, Seq: seq, Start: 1_700_000_040_000 + int64(seq)*60_000, Width: 60_000,
		Series:  []codec.Series{{ID: 0, Name: "node_load1"}},
		Rollups: []codec.Rollup{{ID: 0, Count: 60, Sum: 60, Min: 1, Max: 1, First: 1, Last: 1}},
	})
	if err != nil {
		panic(err)
	}
	return p
}

func connect(ctx context.Context, url string) (*nats.Conn, error) {
	var nc *nats.Conn
	err := harness.WaitFor(ctx, 15*time.Second, func() error {
		var err error
		nc, err = nats.Connect(url, nats.MaxReconnects(0))
		if err != nil && strings.Contains(err.Error(), "uthorization") {
			return nil // refused for good: no point retrying
		}
		return err
	})
	if nc == nil && err == nil {
		err = nats.ErrAuthorization
	}
	return nc, err
}

// CrossSite starts site A's leaf (trusted certificate, site A's hub
// user, per-host agent users plus an all-powerful "gateway" user that
// stands for a compromised site) and tries to write as site B and as
// another host of site A in every way the deployment leaves open. An
// attempt is accepted when the stream acknowledges it or its data reaches
// the stream, the hub's tele.> subscribers or Redis.
func CrossSite(ctx context.Context, e *Env) (Result, error) {
	var res Result
	siteA, siteB := e.Sites[0], e.Sites[1]
	leaf, err := e.StartLeaf(ctx, LeafOptions{Name: "leaf-" + siteA, Site: siteA, TLS: "good", Agents: []string{"hA"}})
	if err != nil {
		return res, err
	}
	if err := harness.WaitFor(ctx, 30*time.Second, func() error {
		names, err := e.Leafz()
		if err != nil || !slices.Contains(names, leaf.Name) {
			return fmt.Errorf("leaf %s not connected to the hub (leafz %v, %v)", leaf.Name, names, err)
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("%w\n%s", err, e.Logs())
	}
	admin, err := connect(ctx, e.AdminURL())
	if err != nil {
		return res, fmt.Errorf("admin connection: %w", err)
	}
	defer admin.Close()
	ajs, _ := jetstream.New(admin)

	gateway, err := connect(ctx, leaf.URL("gateway", GatewayPassword))
	if err != nil {
		return res, fmt.Errorf("gateway on the leaf: %w", err)
	}
	defer gateway.Close()
	agent, err := connect(ctx, leaf.URL("hA", AgentPassword("hA")))
	if err != nil {
		return res, fmt.Errorf("agent hA on the leaf: %w", err)
	}
	defer agent.Close()
	gjs, _ := jetstream.New(gateway)
	hjs, _ := jetstream.New(agent)

	// Positive control: the agent's own subject works end to end (retried
	// until the hub's interest has crossed the leaf connection).
	good := batch(siteA, "hA")
	if err := harness.WaitFor(ctx, 20*time.Second, func() error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := hjs.Publish(pctx, "tele."+siteA+".hA", good, jetstream.WithMsgID("good"))
		return err
	}); err != nil {
		return res, fmt.Errorf("site %s's agent cannot publish its own telemetry: %w\n%s", siteA, err, e.Logs())
	}
	stored := 1 // messages that should have reached the stream
	// Only now watch the hub's tele.>: a subscription that broad carries
	// interest to the leaf that the stream's own might not (and would hide
	// a template the stream's interest cannot cross).
	seen, err := admin.SubscribeSync("tele.>")
	if err != nil {
		return res, err
	}
	admin.Flush()

	try := func(js jetstream.JetStream, who, subject string, data []byte, cross *int, ok *int) {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := js.Publish(pctx, subject, data)
		if err != nil {
			*cross++
			res.logf("refused: %s publishing on %s: %v", who, subject, err)
			return
		}
		*ok++
		res.logf("ACCEPTED: %s publishing on %s", who, subject)
	}
	// Through the leaf as another site: the hub's per-site permissions
	// must drop it at the leaf connection.
	for _, host := range []string{"hB", "hA"} {
		try(gjs, "gateway of "+siteA, "tele."+siteB+"."+host, batch(siteB, host), &res.RejectedCrossSite, &res.AcceptedCrossSite)
	}
	// Core publishes (no ack) as site B: checked below on the hub.
	for range 5 {
		gateway.Publish("tele."+siteB+".hB", batch(siteB, "hB"))
	}
	gateway.Flush()
	// An agent as another host of its site: the leaf's per-host users.
	try(hjs, "agent hA", "tele."+siteA+".hB", batch(siteA, "hB"), &res.RejectedCrossHost, &res.AcceptedCrossHost)
	// Site A's credentials straight on the hub's client port.
	if nc, err := nats.Connect(strings.Replace(e.HubURL, "nats://", "nats://"+siteA+":"+sitePassword(siteA)+"@", 1), nats.MaxReconnects(0)); err != nil {
		res.RejectedCrossSite++
		res.logf("refused: %s's leaf credentials as a client on the hub: %v", siteA, err)
	} else {
		js, _ := jetstream.New(nc)
		try(js, siteA+"'s credentials on the hub", "tele."+siteB+".hB", batch(siteB, "hB"), &res.RejectedCrossSite, &res.AcceptedCrossSite)
		nc.Close()
	}
	// A batch claiming site B (and one claiming another host) on site A's
	// own subject: the stream takes it, the aggregator must reject it.
	before, err := e.AggStats()
	if err != nil {
		return res, err
	}
	for _, c := range []struct{ site, host string }{{siteB, "hB"}, {siteB, "hA"}, {siteA, "hZ"}} {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := gjs.Publish(pctx, "tele."+siteA+".hA", batch(c.site, c.host))
		cancel()
		if err != nil {
			return res, fmt.Errorf("gateway publishing a lying batch on its own subject: %w", err)
		}
		stored++
	}
	wantSite, wantHost := before.Rejected["site_mismatch"]+2, before.Rejected["host_mismatch"]+1
	err = harness.WaitFor(ctx, 20*time.Second, func() error {
		st, err := e.AggStats()
		if err != nil {
			return err
		}
		if st.Rejected["site_mismatch"] < wantSite || st.Rejected["host_mismatch"] < wantHost || st.Applied < 1 {
			return fmt.Errorf("aggregator stats %+v", st)
		}
		return nil
	})
	if err != nil {
		res.AcceptedCrossSite += 2
		res.AcceptedCrossHost++
		res.logf("ACCEPTED: lying batches not rejected by the aggregator: %v", err)
	} else {
		res.RejectedCrossSite += 2
		res.RejectedCrossHost++
		res.logf("refused: 2 batches claiming %s and 1 claiming host hZ on tele.%s.hA rejected by the aggregator", siteB, siteA)
	}

	// Nothing of site B reached the hub, the stream or Redis.
	for {
		m, err := seen.NextMsg(500 * time.Millisecond)
		if err != nil {
			break
		}
		if strings.HasPrefix(m.Subject, "tele."+siteB+".") || m.Subject == "tele."+siteA+".hB" {
			res.AcceptedCrossSite++
			res.logf("ACCEPTED: the hub saw %s", m.Subject)
		}
	}
	st, err := ajs.Stream(ctx, "TELEMETRY")
	if err != nil {
		return res, err
	}
	if last := st.CachedInfo().State.LastSeq; int(last) > stored {
		res.AcceptedCrossSite += int(last) - stored
		res.logf("ACCEPTED: the stream holds %d messages, %d expected", last, stored)
	}
	rdb := e.Redis.Addr
	sites, hosts, err := redisLabelValues(ctx, rdb)
	if err != nil {
		return res, err
	}
	if slices.Contains(sites, siteB) || slices.Contains(hosts, "hB") || slices.Contains(hosts, "hZ") {
		res.AcceptedCrossSite++
		res.logf("ACCEPTED: Redis holds sites %v hosts %v", sites, hosts)
	}
	if !slices.Contains(sites, siteA) {
		return res, fmt.Errorf("site %s's own batch never reached Redis (sites %v)", siteA, sites)
	}
	return res, nil
}

// TLS starts a plaintext leaf, a leaf with a certificate of another CA
// and a TLS leaf without a certificate, all with site A's valid
// password, and checks the hub refuses each while the trusted leaf stays
// connected: each must have logged two failed connects and never appear in
// /leafz.
func TLS(ctx context.Context, e *Env, res *Result) error {
	siteA := e.Sites[0]
	bad := []string{"none", "rogue", "nocert"} // none: no tls block (the leaf upgrades with the system roots)
	leaves := make([]*Leaf, len(bad))
	for i, mode := range bad {
		l, err := e.StartLeaf(ctx, LeafOptions{Name: "leaf-" + mode, Site: siteA, TLS: mode})
		if err != nil {
			return err
		}
		leaves[i] = l
	}
	refused := true
	for i, l := range leaves {
		err := harness.WaitFor(ctx, 30*time.Second, func() error {
			log := l.Tail(1 << 20)
			if n := strings.Count(log, "[ERR]") + strings.Count(log, "Leafnode connection closed"); n < 2 {
				return fmt.Errorf("leaf %s logged %d failed connects", l.Name, n)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, l.Tail(3000))
		}
		names, err := e.Leafz()
		if err != nil {
			return err
		}
		if slices.Contains(names, l.Name) {
			refused = false
			res.logf("ACCEPTED: %s leaf connected to the hub", bad[i])
		} else {
			line := lastLine(l.Tail(4000), "[ERR]")
			if line == "" {
				line = lastLine(l.Tail(4000), "Leafnode connection closed")
			}
			res.logf("refused: %s leaf (%s)", bad[i], line)
		}
		if !slices.Contains(names, "leaf-"+siteA) {
			return errors.New("the trusted leaf is no longer connected")
		}
	}
	// A client that ignores tls_required and speaks the leaf protocol in
	// plaintext with valid credentials.
	if err := plaintextLeaf(e, siteA); err != nil {
		refused = false
		res.logf("ACCEPTED: plaintext leaf protocol: %v", err)
	} else {
		res.logf("refused: plaintext CONNECT on the leaf port (connection closed without PONG)")
	}
	res.TLSPlaintextRefused = refused
	return nil
}

// plaintextLeaf dials the hub's leaf port, sends CONNECT and PING without
// TLS and returns an error if the hub answers PONG (it must close).
func plaintextLeaf(e *Env, site string) error {
	c, err := net.DialTimeout("tcp", e.HubLeaf, 5*time.Second)
	if err != nil {
		return nil // nothing listening cannot accept either; the trusted leaf check shows it listens
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	info, err := r.ReadString('\n')
	if err != nil {
		return nil
	}
	if !strings.Contains(info, `"tls_required":true`) {
		return fmt.Errorf("INFO does not require TLS: %s", strings.TrimSpace(info))
	}
	fmt.Fprintf(c, "CONNECT {\"user\":%q,\"pass\":%q,\"tls_required\":false,\"name\":\"plaintext\"}\r\nPING\r\n", site, sitePassword(site))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil // closed: refused
		}
		if strings.HasPrefix(line, "PONG") {
			return errors.New("the hub answered PONG to a plaintext leaf")
		}
	}
}

func lastLine(s, marker string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if j := strings.Index(lines[i], marker); j >= 0 {
			return strings.TrimSpace(lines[i][j:])
		}
	}
	return ""
}

// Line is the RESULT line of make security.
func (r Result) Line(fuzzCrashes int) string {
	tls := "no"
	if r.TLSPlaintextRefused {
		tls = "yes"
	}
	return fmt.Sprintf("RESULT rejected_cross_site=%d accepted_cross_site=%d fuzz_crashes=%d tls_plaintext_refused=%s",
		r.RejectedCrossSite, r.AcceptedCrossSite, fuzzCrashes, tls)
}
