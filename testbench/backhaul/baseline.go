package backhaul

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
)

// The baselines: the same hosts sampled at 1 s by the meter itself with
// the agent's collectors (so the same series and values), shipped the way
// the usual tools ship them, over real HTTP/1.1 connections to in-process
// sinks whose listeners count every byte in both directions:
//
//   - Prometheus remote write 1.0: a prompb.WriteRequest per scrape per
//     host, snappy block compressed, node_exporter labels plus instance
//     and job, at a 1 s and a 15 s scrape interval. Metadata requests
//     (sent once a minute by default) are not included.
//   - InfluxDB line protocol, gzip, one request per host every 10 s (the
//     Telegraf way): one line per metric family and tag set, the series
//     as fields, a host tag, nanosecond timestamps.

// proto names a baseline.
type proto int

const (
	prw1s proto = iota
	prw15s
	influx10s
	nProtos
)

var protoNames = [nProtos]string{"prw_1s", "prw_15s", "influx_10s"}

// every is the baseline's send interval.
func (p proto) every() time.Duration {
	return [nProtos]time.Duration{time.Second, 15 * time.Second, 10 * time.Second}[p]
}

// sink is an HTTP endpoint whose listener counts the bytes of every
// connection (request bytes up, response bytes down) and whose handler
// counts request bodies.
type sink struct {
	srv        *http.Server
	ln         net.Listener
	url        string
	up, down   atomic.Uint64
	body, reqs atomic.Uint64
}

func newSink(path string, respHeaders map[string]string) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{url: "http://" + ln.Addr().String() + path}
	s.ln = &countingListener{Listener: ln, s: s}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.body.Add(uint64(n))
		s.reqs.Add(1)
		for k, v := range respHeaders {
			w.Header().Set(k, v)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
	return s, nil
}

func (s *sink) close() { s.srv.Close() }

type countingListener struct {
	net.Listener
	s *sink
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, s: l.s}, nil
}

type countingConn struct {
	net.Conn
	s *sink
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.up.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.down.Add(uint64(n))
	return n, err
}

// baselines samples every host at 1 s and ships the samples of scrapes in
// [from, to) to the sinks.
type baselines struct {
	sinks [nProtos]*sink
	hosts []*sampler

	mu       sync.Mutex
	from, to time.Time
	errs     atomic.Uint64
	skipped  atomic.Uint64 // scrapes skipped by a sampler more than 10 s behind
	lastErr  atomic.Value
}

// sampler is one host's scraper.
type sampler struct {
	site, host string
	set        *collect.Set
	reg        *collect.Registry
	e          *collect.Emitter
	clients    [nProtos]*http.Client
	labels     map[uint32][]prompb.Label
	influx     map[uint32]influxKey
	series     atomic.Int64 // series in the last scrape
	bodyBuf    bytes.Buffer
	gz         *gzip.Writer
	pb         []byte
}

type influxKey struct {
	key   string // measurement,tags (escaped, sorted)
	field string
}

func newBaselines(hosts []*host) (*baselines, error) {
	b := &baselines{}
	var err error
	if b.sinks[prw1s], err = newSink("/api/v1/write", nil); err != nil {
		return nil, err
	}
	if b.sinks[prw15s], err = newSink("/api/v1/write", nil); err != nil {
		b.close()
		return nil, err
	}
	// InfluxDB 1.x answers writes with these headers.
	if b.sinks[influx10s], err = newSink("/write", map[string]string{
		"X-Influxdb-Build": "OSS", "X-Influxdb-Version": "1.8.10",
		"Request-Id": "9b2c1a3e-8f4d-11ee-b9d1-0242ac120002", "X-Request-Id": "9b2c1a3e-8f4d-11ee-b9d1-0242ac120002",
	}); err != nil {
		b.close()
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	for _, h := range hosts {
		set, err := collect.DefaultWith(log, h.procRoot, agent.DefaultCollectOptions())
		if err != nil {
			b.close()
			return nil, err
		}
		reg := collect.NewRegistry(0)
		s := &sampler{site: h.site, host: h.name, set: set, reg: reg, e: collect.NewEmitter(reg),
			labels: map[uint32][]prompb.Label{}, influx: map[uint32]influxKey{}}
		for p := range nProtos {
			// One keep-alive connection per host and protocol, as one
			// Prometheus agent or Telegraf per host would hold.
			s.clients[p] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
		}
		s.gz, _ = gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
		b.hosts = append(b.hosts, s)
	}
	return b, nil
}

func (b *baselines) close() {
	for _, s := range b.sinks {
		if s != nil {
			s.close()
		}
	}
	for _, h := range b.hosts {
		for _, c := range h.clients {
			c.CloseIdleConnections()
		}
	}
}

// measure sets the interval whose scrapes are shipped.
func (b *baselines) measure(from, to time.Time) {
	b.mu.Lock()
	b.from, b.to = from, to
	b.mu.Unlock()
}

func (b *baselines) shipping(ts time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.from.IsZero() && !ts.Before(b.from) && ts.Before(b.to)
}

// run scrapes every host once per second, on the second (when the agents
// collect), until ctx is done. A scrape that comes late (a loaded
// machine) still carries its second's timestamp, so no scheduled request
// is skipped unless the sampler falls more than 10 s behind.
func (b *baselines) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range b.hosts {
		wg.Go(func() {
			next := time.Now().Truncate(time.Second).Add(time.Second)
			for {
				if d := time.Until(next); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				ts := next
				next = next.Add(time.Second)
				if behind := time.Since(ts); behind > 10*time.Second {
					b.skipped.Add(uint64(behind / time.Second))
					next = time.Now().Truncate(time.Second).Add(time.Second)
				}
				if err := b.scrape(ctx, s, ts); err != nil && ctx.Err() == nil {
					b.errs.Add(1)
					b.lastErr.Store(err.Error())
				}
			}
		})
	}
	wg.Wait()
}

func (b *baselines) scrape(ctx context.Context, s *sampler, ts time.Time) error {
	s.e.Reset(ts.UnixMilli())
	s.set.Collect(s.e)
	samples := s.e.Samples()
	s.series.Store(int64(len(samples)))
	if !b.shipping(ts) {
		return nil
	}
	ms := ts.UnixMilli()
	body, err := s.remoteWrite(ms)
	if err != nil {
		return err
	}
	hdr := map[string]string{
		"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
		"User-Agent": "Prometheus/3.5.0", "X-Prometheus-Remote-Write-Version": "0.1.0",
	}
	if err := post(ctx, s.clients[prw1s], b.sinks[prw1s].url, body, hdr); err != nil {
		return err
	}
	if ms%prw15s.every().Milliseconds() == 0 {
		if err := post(ctx, s.clients[prw15s], b.sinks[prw15s].url, body, hdr); err != nil {
			return err
		}
	}
	if ms%influx10s.every().Milliseconds() == 0 {
		body, err := s.lineProtocol(ts)
		if err != nil {
			return err
		}
		err = post(ctx, s.clients[influx10s], b.sinks[influx10s].url+"?db=telegraf", body, map[string]string{
			"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8", "User-Agent": "Telegraf/1.30.0",
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func post(ctx context.Context, c *http.Client, url string, body []byte, hdr map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("backhaul: post %s: %w", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("backhaul: post %s: %s", url, resp.Status)
	}
	return nil
}

// remoteWrite is the last scrape as a snappy-compressed remote write 1.0
// request with timestamp ms.
func (s *sampler) remoteWrite(ms int64) ([]byte, error) {
	samples := s.e.Samples()
	var req prompb.WriteRequest
	req.Timeseries = make([]prompb.TimeSeries, len(samples))
	for i, smp := range samples {
		req.Timeseries[i] = prompb.TimeSeries{Labels: s.promLabels(smp.Series), Samples: []prompb.Sample{{Value: smp.Value, Timestamp: ms}}}
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("backhaul: prw marshal: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}

// promLabels are node_exporter's labels for a series as Prometheus would
// store them: __name__, the series' labels, instance and job, sorted.
func (s *sampler) promLabels(id uint32) []prompb.Label {
	if l, ok := s.labels[id]; ok {
		return l
	}
	d := s.reg.Desc(id)
	l := []prompb.Label{{Name: "__name__", Value: d.Name}, {Name: "instance", Value: s.site + "-" + s.host + ":9100"}, {Name: "job", Value: "node"}}
	for i := 0; i+1 < len(d.Labels); i += 2 {
		l = append(l, prompb.Label{Name: d.Labels[i], Value: d.Labels[i+1]})
	}
	slices.SortFunc(l, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
	s.labels[id] = l
	return l
}

// lineProtocol renders the last scrape as gzip'd line protocol: series of
// one family (node_<measurement>_<field>) and one tag set share a line.
func (s *sampler) lineProtocol(ts time.Time) ([]byte, error) {
	type line struct {
		key    string
		fields []string
	}
	var lines []*line
	byKey := map[string]*line{}
	for _, smp := range s.e.Samples() {
		k := s.influxKey(smp.Series)
		l := byKey[k.key]
		if l == nil {
			l = &line{key: k.key}
			byKey[k.key] = l
			lines = append(lines, l)
		}
		l.fields = append(l.fields, k.field+"="+influxValue(smp.Value))
	}
	s.bodyBuf.Reset()
	s.gz.Reset(&s.bodyBuf)
	tsText := strconv.FormatInt(ts.UnixNano(), 10)
	for _, l := range lines {
		fmt.Fprintf(s.gz, "%s %s %s\n", l.key, strings.Join(l.fields, ","), tsText)
	}
	if err := s.gz.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(s.bodyBuf.Bytes()), nil
}

func (s *sampler) influxKey(id uint32) influxKey {
	if k, ok := s.influx[id]; ok {
		return k
	}
	d := s.reg.Desc(id)
	name := strings.TrimPrefix(d.Name, "node_")
	meas, field, ok := strings.Cut(name, "_")
	if !ok {
		field = "value"
	}
	tags := []string{"host=" + influxEscape(s.site+"-"+s.host)}
	for i := 0; i+1 < len(d.Labels); i += 2 {
		tags = append(tags, influxEscape(d.Labels[i])+"="+influxEscape(d.Labels[i+1]))
	}
	slices.Sort(tags)
	k := influxKey{key: influxEscape(meas) + "," + strings.Join(tags, ","), field: influxEscape(field)}
	s.influx[id] = k
	return k
}

var influxEscaper = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`)

func influxEscape(s string) string { return influxEscaper.Replace(s) }

// influxValue writes integers as integer fields (Telegraf's counters) and
// the rest as floats.
func influxValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatInt(int64(v), 10) + "i"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// wire returns a baseline's counters: bytes up and down on the wire,
// request body bytes and requests.
func (b *baselines) wire(p proto) (up, down, body, reqs uint64) {
	s := b.sinks[p]
	return s.up.Load(), s.down.Load(), s.body.Load(), s.reqs.Load()
}
