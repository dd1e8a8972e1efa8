package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	"github.com/edgepulse/edgepulse/codec"
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

// ensureStream creates or updates the telemetry stream.
func (a *Aggregator) ensureStream(ctx context.Context) error {
	sc := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Edgepulse batches: tele.<site>.<host> stored as tele.<site>.<host>.<partition>",
		Subjects:    []string{"tele.*.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      "tele.*.*",
			Destination: fmt.Sprintf("tele.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(%d,1,2)}}", a.cfg.Partitions),
		},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      a.cfg.StreamMaxAge,
		Duplicates:  a.cfg.DedupWindow,
		MaxMsgSize:  codec.MaxBatchBytes,
		Compression: jetstream.S2Compression,
		Replicas:    a.cfg.replicas(),
	}
	if _, err := a.js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("aggregator: stream %s: %w", StreamName, err)
	}
	return nil
}

// legacyConsumer is the single consumer of every partition that versions
// before the ring used. Its filter overlaps the partition consumers', which
// a work-queue stream refuses, so it is deleted; its un-acknowledged
// messages stay in the stream for the partition consumers.
const legacyConsumer = "agg-all"

func (a *Aggregator) dropLegacyConsumer(ctx context.Context) error {
	err := a.js.DeleteConsumer(ctx, StreamName, legacyConsumer)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("aggregator: delete consumer %s: %w", legacyConsumer, err)
	}
	return nil
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

// A delta frame whose base is missing waits for it (it may sit behind it
// in the stream, resent) while the agent is asked for a keyframe at once.
// It is dropped and counted when the agent's chain has moved past it (a
// later frame, the keyframe, is applied here) and it has waited baseGrace
// since it was stored in the stream, or, whatever happens, after
// baseGiveUp in the stream. Agents send periodic keyframes, so the chain
// moves on while the agent lives; the give-up bounds the redeliveries of
// frames of an agent that is gone.
const (
	baseGrace  = 30 * time.Second
	baseGiveUp = 24 * time.Hour
)

// A message put back (base missing, Redis failing) is redelivered after
// retryFirst, doubling per delivery up to retryMax: during a Redis outage
// each waiting frame costs one delivery per retryMax, not one per 2 s.
const (
	retryFirst = 2 * time.Second
	retryMax   = 16 * time.Second
)

// retryDelay is the redelivery delay of m after its nth delivery.
func retryDelay(m jetstream.Msg) time.Duration {
	md, err := m.Metadata()
	if err != nil || md.NumDelivered <= 1 {
		return retryFirst
	}
	return backoff(md.NumDelivered)
}

func backoff(delivered uint64) time.Duration {
	d := retryFirst
	for i := uint64(1); i < delivered && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// writeTimeout bounds one pipelined write; concurrentWrites is how many
// partitions' writes are in flight at once.
const (
	writeTimeout     = 10 * time.Second
	concurrentWrites = 4
)

// pending is a message whose writes are queued in the write being built.
type pending struct {
	m    jetstream.Msg
	f    *codec.Frame
	b    *codec.Batch // nil for a second copy of a frame in the write
	incs []store.Incident
}

// handleBatch applies a partition's messages: it decodes them in order and
// sends the writes of all of them — rollups, hourly tier, incidents,
// backhaul meter, and last the agents' decoder states — in one pipelined
// round trip, then acknowledges them. A message that cannot be decoded is
// terminated (never redelivered); when the write fails, every message of
// it is redelivered after a delay.
func (a *Aggregator) handleBatch(ctx context.Context, msgs []jetstream.Msg) {
	if ctx.Err() != nil {
		// Shutting down or handing the partition over: give them back now
		// rather than after AckWait.
		for _, m := range msgs {
			m.Nak()
		}
		return
	}
	wctx := ctx
	w := a.store.NewWrite()
	var queued []pending
	// failed are agents one of whose frames could not be queued: their
	// later frames in this batch would decode on it, so they wait too.
	var failed map[string]bool
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			a.redelivered.Add(1)
		}
		f, err := codec.ParseFrame(m.Data())
		if err != nil {
			a.decodeErrs.Add(1)
			a.log.Warn("rejecting frame", "subject", m.Subject(), "bytes", len(m.Data()), "err", err)
			m.TermWithReason(err.Error())
			continue
		}
		if failed[f.Agent] {
			m.NakWithDelay(retryDelay(m))
			continue
		}
		b, err := a.wire.decode(wctx, a.store, f)
		switch {
		case errors.Is(err, errDuplicate):
			a.duplicates.Add(1)
			m.Ack()
			continue
		case errors.Is(err, errPendingDuplicate):
			a.duplicates.Add(1)
			queued = append(queued, pending{m: m, f: f}) // acknowledged with the write
			continue
		case errors.Is(err, codec.ErrBaseMissing):
			// The frame it was packed against has not been applied here, and
			// the state saved in Redis is older (or missing: Redis restarted
			// on an older snapshot, or empty). Ask the agent for a keyframe
			// now; the frame waits in case its base is only behind it.
			a.keyframes.ask(f.Site, f.Host)
			var age time.Duration
			if md, merr := m.Metadata(); merr == nil {
				age = time.Since(md.Timestamp)
			}
			if newest := a.wire.newest(f.Agent); (newest > f.Seq && age >= time.Duration(a.baseGrace.Load())) || age >= baseGiveUp {
				a.baseLost.Add(1)
				a.log.Error("dropping frame whose base never arrived", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "base", f.Base,
					"newest_applied", newest, "age", age.Round(time.Second), "err", err)
				m.TermWithReason(err.Error())
				continue
			}
			a.baseWaits.Add(1)
			m.NakWithDelay(retryDelay(m))
			continue
		case err != nil && (errors.Is(err, codec.ErrMalformed) || errors.Is(err, codec.ErrVersion)):
			a.decodeErrs.Add(1)
			a.log.Warn("rejecting frame", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "err", err)
			m.TermWithReason(err.Error())
			a.keyframes.ask(f.Site, f.Host)
			continue
		case err != nil:
			a.storeFailed(err)
			a.log.Warn("loading wire state failed; frame will be redelivered", "agent", f.Agent, "seq", f.Seq, "err", err)
			failed = addFailed(failed, f.Agent)
			m.NakWithDelay(retryDelay(m))
			continue
		}
		if a.rejected(m, b) {
			continue
		}
		if md, err := m.Metadata(); err == nil {
			a.clock.check(b, md.Timestamp)
		}
		if w.ClosesHour(b) && w.Has(b.Agent) {
			// The hour's compaction reads the agent's stored windows: store
			// the ones queued so far first.
			a.flush(wctx, w, queued)
			w, queued = a.store.NewWrite(), nil
		}
		var incs []store.Incident
		err = w.Add(wctx, b)
		if err == nil {
			w.MarkApplied(wctx, f.Agent, f.Seq)
		}
		if err == nil && len(b.Events) > 0 {
			incs = make([]store.Incident, len(b.Events))
			for i := range b.Events {
				incs[i] = store.IncidentOf(b, &b.Events[i])
			}
			err = w.AddIncidents(wctx, incs)
		}
		if errors.Is(err, store.ErrBadWindow) {
			a.decodeErrs.Add(1)
			a.log.Warn("rejecting frame", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "err", err)
			a.wire.discard(f.Agent, f.Seq)
			failed = addFailed(failed, f.Agent)
			m.TermWithReason(err.Error())
			continue
		}
		if err != nil {
			a.storeFailed(err)
			a.log.Warn("queueing a batch's writes failed; it will be redelivered", "agent", b.Agent, "seq", b.Seq, "err", err)
			a.wire.discard(f.Agent, f.Seq)
			failed = addFailed(failed, f.Agent)
			m.NakWithDelay(retryDelay(m))
			continue
		}
		queued = append(queued, pending{m: m, f: f, b: b, incs: incs})
	}
	a.flush(wctx, w, queued)
}

func addFailed(m map[string]bool, agent string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[agent] = true
	return m
}

// flush adds the backhaul meter and the decoder states to w, sends it and
// acknowledges its messages, or hands them back when the write failed.
func (a *Aggregator) flush(ctx context.Context, w *store.Write, queued []pending) {
	if len(queued) == 0 {
		return
	}
	var agents []string
	for _, q := range queued {
		if q.b == nil {
			continue
		}
		w.AddBackhaul(ctx, q.f.Site, q.f.Host, len(q.m.Data()), time.UnixMilli(q.f.Start))
		if !slices.Contains(agents, q.f.Agent) {
			agents = append(agents, q.f.Agent)
		}
	}
	a.wire.saveStates(ctx, w, agents)
	// Redis runs one command at a time: a few large pipelines in flight
	// keep it busy; 64 partitions' worth would only queue, and time out.
	select {
	case a.writeSlots <- struct{}{}:
	case <-ctx.Done():
	}
	start := time.Now()
	err := ctx.Err()
	if err == nil {
		ectx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = w.Exec(ectx)
		cancel()
		<-a.writeSlots
	}
	a.writeNs.Add(int64(time.Since(start)))
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			// Not this member stopping or handing the partition over.
			a.storeFailed(err)
			a.writes.fail(err, time.Now())
		}
		a.log.Warn("redis write failed; batches will be redelivered", "frames", len(queued), "reason", store.ErrorReason(err), "err", err)
		// The states decoded for this write are dropped; the applied
		// ones stay: they follow from the frames, whatever Redis kept, so
		// after Redis comes back (even on an older snapshot) the agents'
		// next frames decode here without waiting for a keyframe.
		a.wire.abort(agents)
		for _, q := range queued {
			q.m.NakWithDelay(retryDelay(q.m))
		}
		return
	}
	a.writes.ok(time.Now())
	a.wire.commit(agents)
	for _, q := range queued {
		if q.b != nil {
			a.wireBytes.Add(uint64(len(q.m.Data())))
			a.applied.Add(1)
			a.rollups.Add(uint64(len(q.b.Rollups)))
			if p, err := strconv.Atoi(q.m.Subject()[strings.LastIndexByte(q.m.Subject(), '.')+1:]); err == nil {
				a.mu.Lock()
				a.perPart[p]++
				a.mu.Unlock()
			}
			a.publishAlerts(q.b, q.incs)
		}
		q.m.Ack()
	}
}

// publishAlerts republishes a stored batch's incident events as JSON on
// alerts.<site>.<host> for people watching with nats sub. A redelivered
// batch publishes its alerts again (at least once); the incident id lets a
// reader drop repeats.
func (a *Aggregator) publishAlerts(b *codec.Batch, incs []store.Incident) {
	if len(incs) == 0 {
		return
	}
	subject := "alerts." + b.Site + "." + b.Host
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			a.log.Warn("encoding alert", "subject", subject, "err", err)
			continue
		}
		if err := a.nc.Publish(subject, doc); err != nil {
			a.log.Warn("publishing alert", "subject", subject, "err", err)
		}
		a.alerts.Add(1)
	}
}

// statz serves Stats as JSON.
func (a *Aggregator) statz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a.Stats())
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
