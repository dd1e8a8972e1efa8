package harness

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Ports. A process the testbench starts binds its own ports — port -1 for
// nats-server and the aggregator's hub, :0 for HTTP listeners — and the
// testbench reads the bound addresses from the process's log (WaitLog).
// A port picked with FreePort and bound later by the process can be taken
// in between (another test's outgoing connection gets it as its
// ephemeral port). FreePort stays only where the port must be known
// before the process starts and cannot be reported by it: redis-server
// (StartRedis retries on "Address already in use"), clustered servers
// whose configs name each other, and a process restarted on the port its
// clients were given (a site leaf a testbench kills and restarts).

// aggRunning is the aggregator's start line: its hub's client and leaf
// URLs and the query API's bound address.
var aggRunning = regexp.MustCompile(`msg="aggregator running" .*\bnats=(\S+) leaf=(\S+) http=(\S+)`)

// natsClientListen is nats-server's line naming its bound client port;
// natsLeafListen its leaf-node port.
var (
	natsClientListen = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)
	natsLeafListen   = regexp.MustCompile(`Listening for leafnode connections on (\S+:\d+)`)
)

// natsMonitorListen is nats-server's line naming its monitoring port
// (the aggregator's embedded hub logs it too).
var natsMonitorListen = regexp.MustCompile(`Starting http monitor on (\S+:\d+)`)

// WaitMonitor waits for p, a nats-server or an aggregator whose hub has
// its monitoring port -1, to log it and returns the bound address.
func WaitMonitor(ctx context.Context, p *Proc, timeout time.Duration) (string, error) {
	m, err := WaitLog(ctx, p, natsMonitorListen, timeout)
	if err != nil {
		return "", err
	}
	return m[1], nil
}

// agentMetricsListen is the agent's line naming its /metrics address.
var agentMetricsListen = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// WaitLog waits until p has logged a line matching re (lines of earlier
// processes in the same log do not count, see Proc.Own) and returns its
// submatches; it fails when p exits first or after timeout, with the
// log's tail.
func WaitLog(ctx context.Context, p *Proc, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	var m []string
	err := WaitFor(ctx, timeout, func() error {
		if m = re.FindStringSubmatch(p.Own()); m != nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("exited")
		}
		return fmt.Errorf("no line matching %s", re)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", p.Name, err, p.Tail(4000))
	}
	return m, nil
}

// AggAddrs are the addresses an aggregator bound (host:port each).
type AggAddrs struct {
	Client, Leaf, HTTP string
}

// WaitAggregator waits for p, an aggregator started with nats.port: -1,
// nats.leaf_port: -1 and http: 127.0.0.1:0, to log its start line and
// returns the addresses it bound.
func WaitAggregator(ctx context.Context, p *Proc, timeout time.Duration) (AggAddrs, error) {
	m, err := WaitLog(ctx, p, aggRunning, timeout)
	if err != nil {
		return AggAddrs{}, err
	}
	a := AggAddrs{HTTP: m[3]}
	for i, dst := range []*string{&a.Client, &a.Leaf} {
		u, err := url.Parse(m[1+i])
		if err != nil || u.Host == "" {
			return AggAddrs{}, fmt.Errorf("%s: start line names %q: not a URL", p.Name, m[1+i])
		}
		*dst = u.Host
	}
	return a, nil
}

// WaitNATS waits for p, a nats-server started with its client port -1
// (and a leaf-node listener on port -1 when leaf is true), to log its
// listeners and returns the bound client and leaf-node addresses.
func WaitNATS(ctx context.Context, p *Proc, leaf bool, timeout time.Duration) (client, leafAddr string, err error) {
	m, err := WaitLog(ctx, p, natsClientListen, timeout)
	if err != nil {
		return "", "", err
	}
	if leaf {
		l, err := WaitLog(ctx, p, natsLeafListen, timeout)
		if err != nil {
			return "", "", err
		}
		leafAddr = l[1]
	}
	return m[1], leafAddr, nil
}

// AgentMetricsURL is the /metrics URL of p, an agent started with
// metrics_listen on port 0: it fails until p has logged its listener.
func AgentMetricsURL(p *Proc) (string, error) {
	m := agentMetricsListen.FindStringSubmatch(p.Own())
	if m == nil {
		return "", fmt.Errorf("%s has not logged its metrics listener yet", p.Name)
	}
	return "http://" + m[1] + "/metrics", nil
}

// redisReady is redis-server's line once it listens (Sentinel's "Running
// mode=sentinel", logged after it bound its port);
// redisPortTaken its line when another process holds its port.
var (
	redisReady     = regexp.MustCompile(`Ready to accept connections|Running mode=sentinel`)
	redisPortTaken = regexp.MustCompile(`(?i)address already in use`)
)

// OnFreePorts is for a process that must be told its ports (redis-server
// cannot bind port 0 and report it): it picks n ports with FreePort and
// calls start, up to 5 times while start fails with errPortTaken (another
// process took a port between the pick and the bind).
func OnFreePorts(n int, start func(ports []int) error) error {
	var err error
	for range 5 {
		ports := make([]int, n)
		for i := range ports {
			if ports[i], err = FreePort(); err != nil {
				return err
			}
		}
		if err = start(ports); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// waitRedisReady waits until p, a redis-server or Sentinel on addr, says
// it accepts connections (its own line: a connection to addr could reach
// another process holding the port); errPortTaken when it exited because
// the port was taken.
func waitRedisReady(ctx context.Context, p *Proc, addr string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		own := p.Own()
		if redisReady.MatchString(own) {
			return WaitTCP(ctx, addr, 15*time.Second)
		}
		if p.Exited() {
			if redisPortTaken.MatchString(own) {
				return fmt.Errorf("%w: %s on %s", errPortTaken, p.Name, addr)
			}
			return fmt.Errorf("harness: %s on %s exited:\n%s", p.Name, addr, p.Tail(2000))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop()
			return fmt.Errorf("harness: %s on %s not ready after 15s\n%s", p.Name, addr, p.Tail(2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
