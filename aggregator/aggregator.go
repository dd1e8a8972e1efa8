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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
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
}

// Aggregator is one running regional aggregator.
type Aggregator struct {
	cfg    Config
	log    *slog.Logger
	ns     *server.Server
	nsOpts *server.Options
	nc     *nats.Conn
	js     jetstream.JetStream
	store  *store.Store
	api    *query.API
	ln     net.Listener

	applied, decodeErrs, storeErrs, rollups, alerts atomic.Uint64

	mu      sync.Mutex
	perPart map[int]uint64
}

// New starts the hub, connects to Redis, creates the stream and binds the
// HTTP listener. Call Run to consume and serve.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{cfg: cfg, log: log, perPart: make(map[int]uint64)}
	var err error
	if a.store, err = store.Open(ctx, cfg.Redis); err != nil {
		return nil, err
	}
	if a.ns, a.nsOpts, err = startHub(cfg); err != nil {
		a.Close()
		return nil, err
	}
	if a.nc, err = nats.Connect("", nats.InProcessServer(a.ns), nats.Name("edgepulse-aggregator "+cfg.Name)); err != nil {
		a.Close()
		return nil, fmt.Errorf("aggregator: connect to embedded hub: %w", err)
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.ensureStream(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if a.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		a.Close()
		return nil, fmt.Errorf("aggregator: http listen %s: %w", cfg.HTTP, err)
	}
	a.api = query.NewAPI(&query.Queryable{Store: a.store}, cfg.Limits, log)
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
	}
	if _, err := a.js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("aggregator: stream %s: %w", StreamName, err)
	}
	return nil
}

// ClientURL is the hub's client URL.
func (a *Aggregator) ClientURL() string { return a.ns.ClientURL() }

// LeafURL is the hub's leaf-node URL.
func (a *Aggregator) LeafURL() string {
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
	a.mu.Unlock()
	return Stats{Applied: a.applied.Load(), DecodeErrors: a.decodeErrs.Load(), StoreErrors: a.storeErrs.Load(),
		Rollups: a.rollups.Load(), Alerts: a.alerts.Load(), Partitions: parts}
}

// Run consumes and serves until ctx is done.
func (a *Aggregator) Run(ctx context.Context) error {
	cons, err := a.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:       "agg-all",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		FilterSubject: "tele.*.*.*",
	})
	if err != nil {
		return fmt.Errorf("aggregator: consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { a.handle(ctx, m) }, jetstream.PullMaxMessages(256))
	if err != nil {
		return fmt.Errorf("aggregator: consume: %w", err)
	}
	defer cc.Stop()

	mux := http.NewServeMux()
	mux.Handle("/api/", a.api)
	mux.HandleFunc("/healthz", a.healthz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	})
	a.log.Info("aggregator running", "name", a.cfg.Name, "nats", a.ClientURL(), "leaf", a.LeafURL(),
		"http", a.HTTPAddr(), "redis", a.cfg.Redis.Addr, "partitions", a.cfg.Partitions)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	wg.Wait()
	return nil
}

// handle applies one message. A batch that cannot be decoded is terminated
// (never redelivered); a failed Redis write is retried after a delay.
func (a *Aggregator) handle(ctx context.Context, m jetstream.Msg) {
	b, err := codec.Decode(m.Data())
	if err != nil {
		a.decodeErrs.Add(1)
		a.log.Warn("rejecting batch", "subject", m.Subject(), "bytes", len(m.Data()), "err", err)
		m.TermWithReason(err.Error())
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.store.Apply(wctx, b); err != nil {
		a.storeErrs.Add(1)
		a.log.Warn("redis write failed; batch will be redelivered", "agent", b.Agent, "seq", b.Seq, "err", err)
		m.NakWithDelay(2 * time.Second)
		return
	}
	if len(b.Events) > 0 {
		if err := a.incidents(wctx, b); err != nil {
			a.storeErrs.Add(1)
			a.log.Warn("recording incidents failed; batch will be redelivered", "agent", b.Agent, "seq", b.Seq, "err", err)
			m.NakWithDelay(2 * time.Second)
			return
		}
	}
	a.applied.Add(1)
	a.rollups.Add(uint64(len(b.Rollups)))
	if p, err := strconv.Atoi(m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]); err == nil {
		a.mu.Lock()
		a.perPart[p]++
		a.mu.Unlock()
	}
	m.Ack()
}

// incidents records a batch's incident events in Redis and republishes
// each as JSON on alerts.<site>.<host> for people watching with nats sub.
// A redelivered batch publishes its alerts again (at least once); the
// incident id lets a reader drop repeats.
func (a *Aggregator) incidents(ctx context.Context, b *codec.Batch) error {
	incs := make([]store.Incident, len(b.Events))
	for i := range b.Events {
		incs[i] = store.IncidentOf(b, &b.Events[i])
	}
	if err := a.store.ApplyIncidents(ctx, incs); err != nil {
		return err
	}
	subject := "alerts." + b.Site + "." + b.Host
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			return err
		}
		if err := a.nc.Publish(subject, doc); err != nil {
			a.log.Warn("publishing alert", "subject", subject, "err", err)
		}
		a.alerts.Add(1)
	}
	return nil
}

func (a *Aggregator) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.store.Client().Ping(ctx).Err(); err != nil {
		http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if !a.ns.JetStreamEnabled() || a.nc.Status() != nats.CONNECTED {
		http.Error(w, "nats: not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Close stops everything New started.
func (a *Aggregator) Close() {
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
