package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgepulse/edgepulse/aggregator/alerting"
	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/ring"
)

// StreamName is the telemetry stream.
const StreamName = "TELEMETRY"

// Stats are the aggregator's counters.
type Stats struct {
	Applied      uint64 // batches written to Redis
	DecodeErrors uint64 // batches rejected as malformed or of unknown version (terminated)
	StoreErrors  uint64 // failed Redis writes (the batch is redelivered)
	Rollups      uint64 // rollups written
	Alerts       uint64 // incident events republished on alerts.>
	// Partitions counts applied batches by stream partition.
	Partitions map[int]uint64
	// Owned are the partitions this member consumes now, ascending.
	Owned []int
	// Members are the members of the stored partition assignment this
	// member consumes by, sorted (the live members once it is current).
	Members []string
	// Rebalances counts new partition assignments adopted.
	Rebalances uint64
	// Redelivered counts messages received with a delivery count above 1
	// (after a handoff, a crash or a failed write).
	Redelivered uint64
	// Duplicates counts frames applied before and acknowledged again.
	Duplicates uint64
	// BaseWaits counts deliveries of delta frames put back to wait for
	// the frame they are packed against; BaseLost those dropped once the
	// agent's chain moved past them (or after baseGiveUp).
	BaseWaits, BaseLost uint64
	// KeyframesAsked counts keyframe requests sent to agents whose chain
	// of frames broke here.
	KeyframesAsked uint64
	// FrameBytes sums the sizes of the frames applied.
	FrameBytes uint64
	// Rejected counts decoded batches rejected by validateBatch (and
	// terminated), by reason (the Reason… constants).
	Rejected map[string]uint64
	// SeriesDroppedHost and SeriesDroppedSite count new series dropped by
	// batches.max_series_per_host and batches.max_series_per_site.
	SeriesDroppedHost, SeriesDroppedSite uint64
	// SeriesTracked is the number of distinct series the caps track.
	SeriesTracked int64
	// AgentsDecoding is the number of agents whose decoder states this
	// member holds (agents idle for 15 minutes are dropped).
	AgentsDecoding int
	// StoreWriteErrors splits StoreErrors by store.ErrorReason (every
	// reason of store.ErrorReasons present).
	StoreWriteErrors map[string]uint64
	// Skewed counts decoded windows whose end was more than clock.max_ahead
	// after, or clock.max_behind before, the time their frame reached the
	// hub, by reason (SkewAhead, SkewBehind). They are stored as stamped.
	Skewed map[string]uint64
}

// Aggregator is one running regional aggregator.
type Aggregator struct {
	cfg      Config
	log      *slog.Logger
	ns       *server.Server
	nsOpts   *server.Options
	nc       *nats.Conn
	js       jetstream.JetStream
	store    *store.Store
	api      *query.API
	alerting *alerting.Service // nil without rules or Alertmanagers
	ln       net.Listener
	kv       jetstream.KeyValue
	parts    *partitions
	guard    *guard // batch validation and cardinality caps (validate.go)
	clock    *clockCheck

	started   time.Time
	closed    chan struct{}
	closeOnce sync.Once

	applied, decodeErrs, storeErrs, rollups, alerts, rebalances, redelivered atomic.Uint64
	duplicates, baseWaits, baseLost, wireBytes                               atomic.Uint64
	wire                                                                     *decoders
	keyframes                                                                *keyframes // asks agents whose chain broke
	members                                                                  memberView

	mu        sync.Mutex
	perPart   map[int]uint64
	ring      *ring.Ring // written by the membership loop under mu
	memberIDs []string
	writeNs   atomic.Int64 // time spent in Redis batch writes
	// writeSlots bounds the pipelined writes in flight (concurrentWrites).
	writeSlots chan struct{}
	// baseGrace is the baseGrace constant; tests shorten it.
	baseGrace atomic.Int64

	// Redis health and capacity (health.go).
	writeErrs writeErrors // failed writes by reason
	writes    streak      // outcomes of the data path's writes
	probe     streak      // outcomes of the readiness probe
	capacity  capacity    // the store's last capacity, the memory warning

	reg         *prometheus.Registry // what /metrics serves (metrics.go)
	metricsErrs atomic.Uint64        // scrapes that left a source out
}

// New starts the hub (or connects to nats.url), connects to Redis, creates
// the stream and the membership bucket and binds the HTTP listener. Call
// Run to consume and serve. In a cluster New waits (up to 60 s, or ctx)
// for JetStream to elect a meta leader, so the members must be started
// concurrently.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{cfg: cfg, log: log, perPart: make(map[int]uint64), started: time.Now().UTC(), closed: make(chan struct{}), wire: newDecoders(),
		writeSlots: make(chan struct{}, concurrentWrites), writeErrs: newWriteErrors()}
	a.parts = newPartitions(a)
	a.guard = newGuard(cfg.Batches)
	a.clock = newClockCheck(cfg.Clock, log)
	a.baseGrace.Store(int64(baseGrace))
	var err error
	if a.store, err = store.Open(ctx, cfg.Redis); err != nil {
		return nil, err
	}
	a.capacity.warn.fraction = a.store.MemoryWarnFraction()
	if cfg.NATS.URL != "" {
		a.nc, err = nats.Connect(cfg.NATS.URL, nats.Name("edgepulse-aggregator "+cfg.Name), nats.MaxReconnects(-1))
	} else {
		if a.ns, a.nsOpts, err = startHub(cfg, log); err != nil {
			a.Close()
			return nil, err
		}
		a.nc, err = nats.Connect("", nats.InProcessServer(a.ns), nats.Name("edgepulse-aggregator "+cfg.Name), hubAuth(a.nsOpts))
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("aggregator: connect to the hub: %w", err)
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		a.Close()
		return nil, err
	}
	a.keyframes = newKeyframes(a.nc, log)
	// A cluster answers JetStream requests only once a meta leader is
	// elected: retry until then.
	setup := func() error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := a.ensureStream(rctx); err != nil {
			return err
		}
		if err := a.dropLegacyConsumer(rctx); err != nil {
			return err
		}
		if err := a.ensureConfigBucket(rctx); err != nil {
			return err
		}
		return a.ensureMembers(rctx)
	}
	deadline := time.Now().Add(60 * time.Second)
	for err = setup(); err != nil && time.Now().Before(deadline) && ctx.Err() == nil; err = setup() {
		a.log.Debug("jetstream setup; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.serveConfig(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		a.Close()
		return nil, fmt.Errorf("aggregator: http listen %s: %w", cfg.HTTP, err)
	}
	qa := &query.Queryable{Store: a.store, Detail: a.detail}
	a.reg = newRegistry(a)
	a.api = query.NewAPIWithRegistry(qa, cfg.Limits, log, a.reg)
	if cfg.Alerting.Enabled() {
		if a.alerting, err = alerting.New(cfg.Alerting, qa, a.api.Engine(), a.store, a.ln.Addr().String(), log); err != nil {
			a.Close()
			return nil, err
		}
		a.api.SetRules(a.alerting)
	}
	tok, err := cfg.Auth.Token()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.api.SetBearerToken(tok)
	return a, nil
}

// ClientURL is the hub's client URL (nats.url with an external server).
func (a *Aggregator) ClientURL() string {
	if a.ns == nil {
		return a.cfg.NATS.URL
	}
	return a.ns.ClientURL()
}

// LeafURL is the hub's leaf-node URL, "" with an external server.
func (a *Aggregator) LeafURL() string {
	if a.nsOpts == nil {
		return ""
	}
	return fmt.Sprintf("nats-leaf://%s", net.JoinHostPort(a.nsOpts.LeafNode.Host, fmt.Sprint(a.nsOpts.LeafNode.Port)))
}

// HTTPAddr is the query API's bound address.
func (a *Aggregator) HTTPAddr() string { return a.ln.Addr().String() }

// Store is the Redis store.
func (a *Aggregator) Store() *store.Store { return a.store }

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	a.mu.Lock()
	parts := maps.Clone(a.perPart)
	members := slices.Clone(a.memberIDs)
	a.mu.Unlock()
	return Stats{Applied: a.applied.Load(), DecodeErrors: a.decodeErrs.Load(), StoreErrors: a.storeErrs.Load(),
		Rollups: a.rollups.Load(), Alerts: a.alerts.Load(), Partitions: parts,
		Owned: a.parts.owned(), Members: members, Rebalances: a.rebalances.Load(), Redelivered: a.redelivered.Load(),
		Duplicates: a.duplicates.Load(), BaseWaits: a.baseWaits.Load(), BaseLost: a.baseLost.Load(), KeyframesAsked: a.keyframes.asked.Load(), FrameBytes: a.wireBytes.Load(),
		Rejected: a.guard.rejectedByReason(), SeriesDroppedHost: a.guard.card.dHost.Load(),
		SeriesDroppedSite: a.guard.card.dSite.Load(), SeriesTracked: a.guard.card.nTotal.Load(),
		AgentsDecoding: a.wire.agents(), StoreWriteErrors: a.writeErrs.snapshot(), Skewed: a.clock.counts()}
}

// Ring is the stored partition assignment this member consumes by (see
// AssignmentKey), nil before the first.
func (a *Aggregator) Ring() *ring.Ring {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ring
}

// Run joins the ring, consumes its partitions and serves until ctx is
// done or Close is called. When ctx ends it leaves gracefully: batches
// already fetched are handed back (Nak) and its membership key is deleted,
// so the other members take its partitions at once instead of after the
// TTL. Close alone is a crash as far as the others can tell.
func (a *Aggregator) Run(ctx context.Context) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.closed:
			cancel()
		case <-rctx.Done():
		}
	}()
	var mwg sync.WaitGroup
	mwg.Go(func() { a.runMembership(rctx) })
	mwg.Go(func() { a.watchdog(rctx) })
	if a.alerting != nil {
		mwg.Go(func() { a.alerting.Run(rctx) })
	}
	mwg.Go(func() { a.probeLoop(rctx) })
	mwg.Go(func() { a.capacityLoop(rctx) })

	mux := http.NewServeMux()
	mux.Handle("/api/", a.api)
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	mux.HandleFunc("/statz", a.statz)
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("/api/v1/backhaul", a.api.Guard(http.HandlerFunc(a.backhaul)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: max(a.cfg.Limits.Timeout, 30*time.Second) + 30*time.Second, IdleTimeout: 2 * time.Minute}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			a.log.Error("http server", "err", err)
		}
	})
	a.log.Info("aggregator running", "name", a.cfg.Name, "nats", a.ClientURL(), "leaf", a.LeafURL(),
		"http", a.HTTPAddr(), "redis", a.cfg.Redis.Addr, "partitions", a.cfg.Partitions, "replicas", a.cfg.replicas(),
		"heartbeat", a.cfg.Membership.Heartbeat, "ttl", a.cfg.Membership.TTL)
	<-rctx.Done()
	mwg.Wait()
	a.parts.stopAll(5 * time.Second)
	select {
	case <-a.closed:
	default:
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := a.kv.Delete(dctx, a.cfg.Name); err != nil {
			a.log.Warn("leaving the ring", "err", err)
		}
		dcancel()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	wg.Wait()
	return nil
}

// Close stops everything New started, without leaving the ring: to the
// other members it looks like a crash (its key expires after the TTL).
// It makes a running Run return.
func (a *Aggregator) Close() {
	a.closeOnce.Do(func() { close(a.closed) })
	if a.ln != nil {
		a.ln.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
	if a.ns != nil {
		a.ns.Shutdown()
		a.ns.WaitForShutdown()
	}
	if a.store != nil {
		a.store.Close()
	}
}
