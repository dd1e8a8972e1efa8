package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgepulse/edgepulse/aggregator/alerting"
	"github.com/edgepulse/edgepulse/aggregator/console"
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
	// Durability (durable.go): acks held until Redis persisted the
	// writes, batches handed back after a Redis restart, acks given up
	// on before persistence (bounds), Redis restarts seen.
	HeldAcks                                int
	Replayed, HeldAckedEarly, RedisRestarts uint64
	// Skewed counts decoded windows whose end was more than clock.max_ahead
	// after, or clock.max_behind before, the time their frame reached the
	// hub, by reason (SkewAhead, SkewBehind). They are stored as stamped.
	Skewed map[string]uint64
}

// Aggregator is one running regional aggregator: the parts below, each
// owning its state, wired together in New (doc.go draws the map). It
// holds no state of its own beyond the listener and the close signal.
type Aggregator struct {
	cfg      Config
	log      *slog.Logger
	hub      *hub // the embedded hub or nats.url (hubconn.go)
	store    *store.Store
	health   *storeHealth         // Redis health and capacity (health.go)
	ingest   *ingest              // frames → Redis (ingest.go)
	parts    *partitions          // one consumer per owned partition (partitions.go)
	members  *membership          // heartbeats and the stored assignment (membership.go)
	alerts   *alertPublisher      // incidents on alerts.> (alerts.go)
	api      *query.API           // the Prometheus HTTP API
	alerting *alerting.Service    // nil without rules or Alertmanagers
	http     *surface             // the HTTP surface (http.go)
	reg      *prometheus.Registry // what /metrics serves (metrics.go)
	console  *console.Console     // the web console (console.go)
	durable  *durability          // acks held until Redis persisted (durable.go)
	regions  regionsExtras        // pre-aggregates, global query, path latency (regions.go)
	ln       net.Listener

	closed    chan struct{}
	closeOnce sync.Once

	metricsErrs atomic.Uint64 // scrapes that left a source out
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
	a := &Aggregator{cfg: cfg, log: log, closed: make(chan struct{})}
	var err error
	if a.store, err = store.Open(ctx, cfg.Redis); err != nil {
		return nil, err
	}
	a.health = newStoreHealth(a.store, cfg.Name, cfg.RedisUnreadyAfter, log)
	if a.hub, err = connectHub(cfg, log); err != nil {
		a.Close()
		return nil, err
	}
	js := a.hub.js
	a.alerts = &alertPublisher{nc: a.hub.nc, log: log}
	a.health.incidents.republish = a.alerts.publishExpired
	a.ingest = newIngest(log, a.store, cfg.Batches, cfg.Clock, newKeyframes(a.hub.nc, log), a.alerts, a.health)
	a.durable = newDurability(a.store, a.ingest.wire, cfg.AckWait, log)
	a.durable.settle(ctx) // knows whether Redis persists before the first ack
	a.ingest.durable = a.durable
	a.parts = newPartitions(js, log, cfg.Name, cfg.AckWait, cfg.replicas(), a.ingest.handleBatch)
	// A cluster answers JetStream requests only once a meta leader is
	// elected: retry until then.
	var kv memberKV
	setup := func() error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := ensureStream(rctx, js, cfg); err != nil {
			return err
		}
		if err := dropLegacyConsumer(rctx, js); err != nil {
			return err
		}
		if err := EnsureConfigBucket(rctx, js, cfg.replicas()); err != nil {
			return err
		}
		kv, err = ensureMembers(rctx, js, cfg.Membership, cfg.replicas())
		return err
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
	hb := heartbeat{Name: cfg.Name, Client: a.hub.clientURL(), Started: time.Now().UTC()}
	a.members = newMembership(cfg.Membership, cfg.Name, cfg.Partitions, hb, kv, log, a.parts.set)
	if _, err := ServeConfig(ctx, a.hub.nc, js, log); err != nil {
		a.Close()
		return nil, err
	}
	if err := serveTime(a.hub.nc); err != nil {
		a.Close()
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		a.Close()
		return nil, fmt.Errorf("aggregator: http listen %s: %w", cfg.HTTP, err)
	}
	qa := &query.Queryable{Store: a.store, Detail: detailClient{a.hub.nc}.detail}
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
	if err := a.setupRegions(qa, tok); err != nil {
		a.Close()
		return nil, err
	}
	a.startConsole(tok)
	a.ingest.regions, a.ingest.console = &a.regions, a.console
	a.health.incidents.console = a.console.Expired // before Run starts the capacity loop
	a.http = &surface{member: cfg.Name, started: hb.Started, api: a.api, store: a.store, hub: a.hub,
		health: a.health, stats: a.Stats, log: log,
		metrics: prometheus.Gatherers{a.reg, a.regions.reg, a.console.Gatherer()},
		mounts:  []func(*http.ServeMux){a.mountRegions, a.console.Mount}}
	return a, nil
}

// ClientURL is the hub's client URL (nats.url with an external server).
func (a *Aggregator) ClientURL() string { return a.hub.clientURL() }

// LeafURL is the hub's leaf-node URL, "" with an external server.
func (a *Aggregator) LeafURL() string { return a.hub.leafURL() }

// HTTPAddr is the query API's bound address.
func (a *Aggregator) HTTPAddr() string { return a.ln.Addr().String() }

// Store is the Redis store.
func (a *Aggregator) Store() *store.Store { return a.store }

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	in := a.ingest
	_, members := a.members.current()
	return Stats{Applied: in.applied.Load(), DecodeErrors: in.decodeErrs.Load(), StoreErrors: a.health.storeErrs.Load(),
		Rollups: in.rollups.Load(), Alerts: a.alerts.sent.Load(), Partitions: in.partitionCounts(),
		Owned: a.parts.owned(), Members: members, Rebalances: a.members.rebalances.Load(), Redelivered: in.redelivered.Load(),
		Duplicates: in.duplicates.Load(), BaseWaits: in.baseWaits.Load(), BaseLost: in.baseLost.Load(),
		KeyframesAsked: in.keyframes.asked.Load(), FrameBytes: in.wireBytes.Load(),
		Rejected: in.guard.rejectedByReason(), SeriesDroppedHost: in.guard.card.dHost.Load(),
		SeriesDroppedSite: in.guard.card.dSite.Load(), SeriesTracked: in.guard.card.nTotal.Load(),
		AgentsDecoding: in.wire.agents(), StoreWriteErrors: a.health.writeErrs.snapshot(), Skewed: in.clock.counts(),
		HeldAcks: a.durable.heldNow(), Replayed: a.durable.replayed.Load(), HeldAckedEarly: a.durable.early.Load(),
		RedisRestarts: a.durable.restarts.Load()}
}

// Ring is the stored partition assignment this member consumes by (see
// AssignmentKey), nil before the first.
func (a *Aggregator) Ring() *ring.Ring {
	r, _ := a.members.current()
	return r
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
	mwg.Go(func() { a.members.run(rctx) })
	mwg.Go(func() { watchdog(rctx, a.log, a.hub.live) })
	if a.alerting != nil {
		mwg.Go(func() { a.alerting.Run(rctx) })
	}
	mwg.Go(func() { a.health.probeLoop(rctx) })
	mwg.Go(func() { a.health.capacityLoop(rctx) })
	a.runRegions(rctx, &mwg)
	mwg.Go(func() { a.durable.run(rctx) })

	srv := &http.Server{Handler: a.http.handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
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
		if err := a.members.leave(dctx); err != nil {
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
	if a.console != nil {
		a.console.Close()
	}
	if a.ln != nil {
		a.ln.Close()
	}
	if a.hub != nil {
		a.hub.close()
	}
	if a.store != nil {
		a.store.Close()
	}
}
