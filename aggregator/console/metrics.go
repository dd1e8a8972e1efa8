package console

import (
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Reasons a WebSocket is refused or closed by the server.
const (
	refuseLimit        = "limit"        // Limits.MaxConns reached
	refuseClientLimit  = "client_limit" // Limits.MaxConnsPerClient reached
	refuseUnauthorized = "unauthorized" // missing or wrong token
	refuseBadMessage   = "bad_message"  // a message the console does not understand
)

// metrics are the console's own series, appended to the aggregator's
// /metrics by WriteMetrics.
type metrics struct {
	reg         *prometheus.Registry
	conns       prometheus.Gauge
	refused     *prometheus.CounterVec
	sent        prometheus.Counter
	dropped     prometheus.Counter
	liveHosts   prometheus.Gauge
	liveFrames  prometheus.Counter
	liveBytes   prometheus.Counter
	liveErrors  prometheus.Counter
	liveDropped prometheus.Counter

	noticesSent, noticeBytesSent         prometheus.Counter
	noticesReceived, noticeBytesReceived prometheus.Counter
	noticesDropped, noticeErrors         prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgepulse_console_ws_connections",
			Help: "Console WebSocket connections open."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepulse_console_ws_refused_total",
			Help: "Console WebSocket connections refused or closed by the console, by reason."}, []string{"reason"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_ws_messages_total",
			Help: "Messages written to console WebSockets."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_ws_dropped_total",
			Help: "Messages dropped (oldest first) because a browser's outbox was full."}),
		liveHosts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "edgepulse_console_live_hosts",
			Help: "Hosts streaming live 1 s samples to this console now."}),
		liveFrames: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_live_frames_total",
			Help: "Live-mode frames received from agents."}),
		liveBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_live_bytes_total",
			Help: "Bytes of live-mode frames received from agents (payload at the hub)."}),
		liveErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_live_request_errors_total",
			Help: "Live-mode lease requests that failed (no agent, timeout, refused)."}),
		liveDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_live_frames_dropped_total",
			Help: "Live-mode frames dropped: undecodable, or values not matching the series names the agent sent last."}),
		noticesSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notices_sent_total",
			Help: "Notices of applied frames published for the other members' consoles (" + NoticeSubject + ")."}),
		noticeBytesSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notice_bytes_sent_total",
			Help: "Bytes of those notices (payload and subject)."}),
		noticesReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notices_received_total",
			Help: "Other members' notices received while browsers were connected here."}),
		noticeBytesReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notice_bytes_received_total",
			Help: "Bytes of those notices (payload and subject)."}),
		noticesDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notices_dropped_total",
			Help: "Notices dropped: undecodable, or past the subscription's pending bound."}),
		noticeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_console_notice_errors_total",
			Help: "Notices that could not be published, and failed subscriptions to them."}),
	}
	m.reg.MustRegister(m.conns, m.refused, m.sent, m.dropped, m.liveHosts, m.liveFrames, m.liveBytes, m.liveErrors, m.liveDropped,
		m.noticesSent, m.noticeBytesSent, m.noticesReceived, m.noticeBytesReceived, m.noticesDropped, m.noticeErrors)
	for _, r := range []string{refuseLimit, refuseClientLimit, refuseUnauthorized, refuseBadMessage} {
		m.refused.WithLabelValues(r)
	}
	return m
}

// Gatherer gathers the console's series for the aggregator's /metrics.
func (c *Console) Gatherer() prometheus.Gatherer { return c.met.reg }

// WriteMetrics appends the console's series in the Prometheus text format.
func (c *Console) WriteMetrics(w io.Writer) error {
	mfs, err := c.met.reg.Gather()
	if err != nil {
		return fmt.Errorf("console: metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("console: metrics: %w", err)
		}
	}
	return nil
}
