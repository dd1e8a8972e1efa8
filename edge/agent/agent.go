package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/edge/forward"
	"github.com/edgepulse/edgepulse/edge/queue"
	"github.com/edgepulse/edgepulse/edge/rollup"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// Stats are the agent's counters.
type Stats struct {
	Series        int
	Cycles        uint64
	Samples       uint64
	QueueDropped  uint64 // samples the full queue refused
	LateSamples   uint64
	Windows       uint64      // windows closed and spooled
	SeriesLimited uint64      // samples of new series refused by max_series
	SeriesSwept   uint64      // series forgotten after they stopped reporting
	Spool         spool.Stats // zero while a full disk keeps the spool closed
	Outbox        OutboxStats // the spool open or not, and the memory queue standing in for it
	Forward       forward.Stats
	SourceErrors  map[string]uint64
	Incidents     uint64 // incidents opened
}

// Agent is one running edge agent.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	metricsH metricsOnce // /metrics (metrics.go)
	reg      *collect.Registry
	set      *collect.Set
	q        *queue.Queue
	win      *rollup.Windows
	spool    *outbox // the spool, or memory while a full disk keeps it closed (outbox.go)
	fwd      *forward.Forwarder
	nc       *nats.Conn
	det      *Detector // nil when detection is off; owned by the rollup loop
	od       onDemand

	detLive atomic.Pointer[Detector] // a.det, for readers on other goroutines
	detNext atomic.Pointer[detSwap]  // a pushed detector waiting for the rollup loop
	incBase atomic.Uint64            // incidents opened by replaced detectors

	cycles, samples, qdropped, windows atomic.Uint64
	gcPercent                          atomic.Int64 // GOGC now (gcpace.go)
	wake                               chan struct{}
	pending                            []codec.Event // events waiting for the next batch
	msgIDKey                           []byte        // signs Nats-Msg-Ids (identity.go)
	clk                                *clock        // the time samples are stamped with (clock.go)
	spoolRetry                         time.Duration // spoolRetryLoop's period; 0: spoolRetryEvery (tests shorten it)
}

// New builds an agent: it opens the spool and connects to NATS (the
// connection retries in the background, so an absent uplink at start is
// not an error). A spool a full disk keeps closed is not an error either:
// the agent runs with a small memory queue instead and retries the spool
// (outbox.go, spoolopen.go).
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	set, err := collect.DefaultWith(log, cfg.ProcRoot, cfg.Collect)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, set: set, reg: collect.NewRegistry(cfg.MaxSeries), wake: make(chan struct{}, 1), clk: newClock(cfg.Clock)}
	a.reg.SetTargetLabels("job", cfg.JobLabel())
	if a.q, err = queue.New(cfg.QueueCapacity); err != nil {
		return nil, err
	}
	a.win, err = rollup.New(rollup.Options{Width: cfg.Window, Lateness: cfg.Lateness}, a.kind)
	if err != nil {
		a.q.Close()
		return nil, err
	}
	if cfg.Detect.Enabled == nil || *cfg.Detect.Enabled {
		if a.det, err = NewDetector(cfg.Detect, a.reg, cfg.Interval); err != nil {
			a.q.Close()
			return nil, err
		}
	}
	a.spool, err = openOutbox(spool.Options{Dir: filepath.Join(cfg.DataDir, "spool"), MaxBytes: cfg.SpoolMaxBytes, DiskReserve: cfg.DiskReserve}, log)
	if err != nil {
		a.q.Close()
		return nil, err
	}
	auth, err := natsAuth(cfg)
	if err == nil {
		a.msgIDKey, err = loadMsgIDKey(cfg.DataDir)
		if err != nil && a.msgIDKey != nil && spool.IsDiskFull(err) {
			log.Warn("Nats-Msg-Id key not saved (the disk is full): signing with a key for this run only; the next start makes another", "err", err)
			err = nil
		}
	}
	if err != nil {
		a.spool.Close()
		a.q.Close()
		return nil, err
	}
	// While NATS cannot be reached (at start too: the connection retries
	// in the background) every failed attempt is reported, at most once a
	// minute, so an agent whose site leaf is down or misaddressed says so.
	unreachable := newEvery(time.Minute)
	a.nc, err = nats.Connect(cfg.NATSURL, auth,
		nats.Name("edgepulse-agent "+cfg.AgentID()),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ConnectHandler(func(nc *nats.Conn) { log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if unreachable.due(time.Now()) {
				// a.spool is set before the first connection attempt.
				where := "in the spool"
				if !a.spool.OutboxStats().SpoolOpen {
					where = fmt.Sprintf("in memory (the disk is full, at most %d windows)", memQueueWindows)
				}
				log.Warn("NATS unreachable; windows stay "+where+", retrying every second", "url", redactURL(cfg.NATSURL), "err", err)
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrl())
			a.fwd.Notify() // replay the spool at once
		}),
	)
	if err != nil {
		a.spool.Close()
		a.q.Close()
		return nil, fmt.Errorf("agent: nats %s: %w", cfg.NATSURL, err)
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("agent: jetstream: %w", err)
	}
	a.fwd = forward.New(js, a.spool, forward.Options{Subject: cfg.Subject(), Agent: cfg.AgentID(), MsgIDKey: a.msgIDKey, Wire: &cfg.Wire}, log)
	if err := a.initOnDemand(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) kind(series uint32) codec.Kind {
	if d := a.reg.Desc(series); d != nil {
		return d.Kind
	}
	return codec.Gauge
}

// Close releases the spool, queue and NATS connection.
func (a *Agent) Close() {
	a.closeOnDemand()
	if a.nc != nil {
		a.nc.Close()
	}
	a.spool.Close()
	a.q.Close()
}

// Run collects, rolls up and forwards until ctx is done. Windows still open
// at that point are not shipped: the next run starts them afresh.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("agent running", "agent", a.cfg.AgentID(), "subject", a.cfg.Subject(), "nats", a.cfg.NATSURL,
		"window", a.cfg.Window, "procfs", a.cfg.ProcRoot, "queue", queue.Impl, "spooled", a.spool.Stats().Batches)
	var wg sync.WaitGroup
	wg.Go(func() { a.fwd.Run(ctx) })
	wg.Go(func() { a.spoolRetryLoop(ctx) })
	wg.Go(func() { a.rollupLoop(ctx) })
	wg.Go(func() { a.watchdog(ctx) })
	wg.Go(func() { a.gcPaceLoop(ctx) })
	wg.Go(func() { a.releasePagesLoop(ctx) })
	wg.Go(func() { a.od.remote.run(ctx) })
	wg.Go(func() { a.clk.run(ctx, a.nc, codec.TimeSubject(a.cfg.Site, a.cfg.Host), a.log) })
	if l := a.cfg.MetricsListen; l != "" && l != "off" {
		mux := http.NewServeMux()
		mux.HandleFunc("/metrics", a.ServeMetrics)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		// Listen here, not in ListenAndServe, so the bound address can be
		// logged: with port 0 (testbenches) it is the only way to find it.
		if ln, err := net.Listen("tcp", l); err != nil {
			a.log.Warn("metrics listener", "addr", l, "err", err)
		} else {
			a.log.Info("metrics listening", "addr", ln.Addr().String())
			wg.Go(func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					a.log.Warn("metrics listener", "addr", l, "err", err)
				}
			})
			wg.Go(func() { <-ctx.Done(); srv.Close() })
		}
	}
	if err := sdNotify("READY=1\nSTATUS=collecting"); err != nil {
		a.log.Warn("systemd readiness notification", "err", err)
	}
	a.collectLoop(ctx)
	sdNotify("STOPPING=1")
	wg.Wait()
	return nil
}

// collectLoop is the queue's producer: one collection per interval, aligned
// to the wall clock, pushed in one batch. Samples are stamped with the
// aligned instant but read a fixed per-host phase after it (collectPhase),
// as Prometheus offsets each target's scrapes: on the whole second every
// second-aligned program on the host wakes at once (agents, aggregators,
// other tools), and an instantaneous count such as node_procs_running
// read then counted that herd — about twice what node_exporter shows, and
// up to 20 times on a busy test host.
func (a *Agent) collectLoop(ctx context.Context) {
	e := collect.NewEmitter(a.reg)
	iv := a.cfg.Interval
	phase := collectPhase(a.cfg.AgentID(), iv)
	for {
		now := a.clk.now()
		next := now.Add(-phase).Truncate(iv).Add(iv)
		t := time.NewTimer(next.Add(phase).Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.Reset(next.UnixMilli())
		a.set.Collect(e)
		s := e.Samples()
		if n := a.q.PushBatch(s); n < len(s) {
			a.qdropped.Add(uint64(len(s) - n))
		}
		a.cycles.Add(1)
		a.samples.Add(uint64(len(s)))
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// collectPhase is how long after each aligned instant the agent reads:
// from a hash of the agent id, in [0, min(interval/2, 500ms)), so hosts
// spread out and no agent reads on the whole second.
func collectPhase(id string, iv time.Duration) time.Duration {
	span := min(iv/2, 500*time.Millisecond)
	if span <= 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return time.Duration(h.Sum32()%uint32(span/time.Millisecond)) * time.Millisecond
}

// rollupLoop is the queue's single consumer.
func (a *Agent) rollupLoop(ctx context.Context) {
	buf := make([]queue.Sample, 4096)
	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.endCycle(true)
			return
		case <-a.wake:
		case <-tick.C:
		}
		for {
			n := a.q.PopBatch(buf)
			a.historyAppend(buf[:n])
			for _, s := range buf[:n] {
				if a.det != nil {
					a.det.Observe(s.Series, s.TS, s.Value)
				}
				a.win.Add(s.Series, s.TS, s.Value)
			}
			if n < len(buf) {
				break
			}
		}
		if a.det != nil {
			a.det.EndCycle()
			a.pending = append(a.pending, a.det.TakeEvents()...)
		}
		a.endCycle(false)
		for _, w := range a.win.Close(a.clk.now().UnixMilli()) {
			if err := a.ship(w); err != nil && !errors.Is(err, spool.ErrDiskFull) { // the spool logs a full disk once and counts each window
				a.log.Error("spooling window", "start", time.UnixMilli(w.Start).UTC(), "err", err)
			}
			a.win.Recycle(w)
			a.sweep()
		}
	}
}

// sweep forgets series that stopped reporting (an interface, mount or
// device that went away) once no open window can hold them, so memory
// stays bounded under churn and max_series counts live series.
func (a *Agent) sweep() {
	age := max(10*time.Minute, 3*(a.cfg.Window+a.cfg.Lateness))
	for _, id := range a.reg.Sweep(a.clk.now().Add(-age).UnixMilli()) {
		a.win.Forget(id)
	}
}

// windowBatch builds the full batch of a closed window: every series with
// a sample or a carried-over counter, sorted by id, with the events waiting
// for the next batch. It returns nil when there is nothing to ship.
func (a *Agent) windowBatch(w rollup.Window) *codec.Batch {
	ids := make([]uint32, 0, len(w.States))
	for id, st := range w.States {
		if a.reg.Desc(id) == nil {
			continue // swept; cannot happen while the sweep age exceeds a window
		}
		if st.Count > 0 || st.LastTS > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 && len(a.pending) == 0 {
		return nil
	}
	slices.Sort(ids)
	b := &codec.Batch{
		Version: codec.Version, Agent: a.cfg.AgentID(), Site: a.cfg.Site, Host: a.cfg.Host,
		Start: w.Start, Width: w.Width, Late: w.Late,
		Series:  make([]codec.Series, 0, len(ids)),
		Rollups: make([]codec.Rollup, 0, len(ids)),
		Events:  a.pending,
	}
	for _, id := range ids {
		d := a.reg.Desc(id)
		st := w.States[id]
		b.Series = append(b.Series, codec.Series{ID: id, Name: d.Name, Kind: d.Kind, Labels: d.Labels})
		r := codec.Rollup{ID: id, Count: st.Count, Sum: st.Sum, Min: st.Min, Max: st.Max, First: st.First, Last: st.Last}
		if d.Kind == codec.Counter {
			r.Last = st.Raw
		}
		r.Quantiles = st.Quantiles()
		b.Rollups = append(b.Rollups, r)
	}
	return b
}

// ship encodes a closed window as one batch and makes it durable.
func (a *Agent) ship(w rollup.Window) error {
	b := a.windowBatch(w)
	if b == nil {
		return nil
	}
	a.logWindow(b) // window_log: the full batch, for the backhaul meter
	_, err := a.spool.Append(func(seq uint64) ([]byte, error) {
		b.Seq = seq
		return codec.Encode(nil, b)
	})
	if err != nil {
		return err
	}
	a.pending = nil
	a.windows.Add(1)
	a.fwd.Notify()
	return nil
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	return Stats{
		Series: a.reg.Len(), Cycles: a.cycles.Load(), Samples: a.samples.Load(),
		QueueDropped: a.qdropped.Load(), LateSamples: a.win.Late(), Windows: a.windows.Load(),
		SeriesLimited: a.reg.Rejected(), SeriesSwept: a.reg.Swept(), Spool: a.spool.Stats(), Outbox: a.spool.OutboxStats(), Forward: a.fwd.Stats(),
		SourceErrors: a.set.Failures(), Incidents: a.incidents(),
	}
}

func (a *Agent) incidents() uint64 {
	d := a.detLive.Load()
	if d == nil {
		return a.incBase.Load()
	}
	o, _ := d.Incidents()
	return a.incBase.Load() + o
}

// every lets something happen at most once per period (a log line).
type every struct {
	period time.Duration
	mu     sync.Mutex
	last   time.Time
}

func newEvery(period time.Duration) *every { return &every{period: period} }

func (e *every) due(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < e.period {
		return false
	}
	e.last = now
	return true
}
