package aggregator

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/edgepulse/edgepulse/codec"
)

// BatchLimits bound what one decoded batch may hold and how many series a
// host and a site may own. A batch over a per-batch limit is rejected as a
// whole (terminated, never redelivered); series over a cardinality cap are
// dropped from the batch and counted, the rest of the batch is applied.
// The zero value of a field means its default.
type BatchLimits struct {
	// MaxSeries is the number of series (dictionary entries) one batch may
	// carry; default 20000, range 1–1000000.
	MaxSeries int `yaml:"max_series"`
	// MaxRollups is the number of rollups one batch may carry; default
	// 20000, range 1–1000000.
	MaxRollups int `yaml:"max_rollups"`
	// MaxEvents is the number of incident events one batch may carry;
	// default 1000, range 0–100000 (0 means the default).
	MaxEvents int `yaml:"max_events"`
	// MaxLabels is the number of label pairs one series may carry; default
	// 32, range 1–256.
	MaxLabels int `yaml:"max_labels"`
	// MaxLabelValueLen is the longest label value in bytes; default 256,
	// range 1–4096. Names follow codec.ValidLabelName (at most 128 bytes).
	MaxLabelValueLen int `yaml:"max_label_value_len"`
	// MaxSeriesPerHost caps the distinct series one host may own on this
	// member; default 10000, range 1–10000000.
	MaxSeriesPerHost int `yaml:"max_series_per_host"`
	// MaxSeriesPerSite caps the distinct series of all hosts of one site
	// on this member; default 200000, range 1–100000000.
	MaxSeriesPerSite int `yaml:"max_series_per_site"`
}

// DefaultBatchLimits returns the defaults.
func DefaultBatchLimits() BatchLimits {
	return BatchLimits{MaxSeries: 20000, MaxRollups: 20000, MaxEvents: 1000, MaxLabels: 32,
		MaxLabelValueLen: 256, MaxSeriesPerHost: 10000, MaxSeriesPerSite: 200000}
}

// withDefaults fills zero fields.
func (l BatchLimits) withDefaults() BatchLimits {
	d := DefaultBatchLimits()
	for _, f := range []struct{ v, def *int }{
		{&l.MaxSeries, &d.MaxSeries}, {&l.MaxRollups, &d.MaxRollups}, {&l.MaxEvents, &d.MaxEvents},
		{&l.MaxLabels, &d.MaxLabels}, {&l.MaxLabelValueLen, &d.MaxLabelValueLen},
		{&l.MaxSeriesPerHost, &d.MaxSeriesPerHost}, {&l.MaxSeriesPerSite, &d.MaxSeriesPerSite},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Validate names the first field out of range (zero fields mean defaults).
func (l BatchLimits) Validate() error {
	l = l.withDefaults()
	for _, f := range []struct {
		name      string
		v, lo, hi int
	}{
		{"batches.max_series", l.MaxSeries, 1, 1_000_000},
		{"batches.max_rollups", l.MaxRollups, 1, 1_000_000},
		{"batches.max_events", l.MaxEvents, 1, 100_000},
		{"batches.max_labels", l.MaxLabels, 1, 256},
		{"batches.max_label_value_len", l.MaxLabelValueLen, 1, 4096},
		{"batches.max_series_per_host", l.MaxSeriesPerHost, 1, 10_000_000},
		{"batches.max_series_per_site", l.MaxSeriesPerSite, 1, 100_000_000},
	} {
		if f.v < f.lo || f.v > f.hi {
			return fmt.Errorf("config: %s %d must be between %d and %d (0 means the default)", f.name, f.v, f.lo, f.hi)
		}
	}
	return nil
}

// Reasons a batch is rejected, the label values of
// edgepulse_aggregator_batches_rejected_total.
const (
	ReasonSubject      = "subject"       // the stream subject is not tele.<site>.<host>.<partition>
	ReasonSiteMismatch = "site_mismatch" // the batch claims another site than its subject
	ReasonHostMismatch = "host_mismatch" // the batch claims another host than its subject
	ReasonIdentity     = "identity"      // the agent id is not <site>/<host> of the subject
	ReasonTooLarge     = "too_large"     // more series, rollups, events or labels than BatchLimits allow
	ReasonLabel        = "label"         // a metric name, label name or label value is invalid
)

// ErrRejected is wrapped by every error validateBatch returns.
var ErrRejected = errors.New("aggregator: batch rejected")

// RejectError says why a batch was rejected.
type RejectError struct {
	Reason string // one of the Reason… constants
	Err    error
}

func (e *RejectError) Error() string { return e.Reason + ": " + e.Err.Error() }

// Unwrap returns ErrRejected and the detail.
func (e *RejectError) Unwrap() []error { return []error{ErrRejected, e.Err} }

func reject(reason, format string, args ...any) error {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// validToken is what a site or host may be: it becomes a subject token and
// part of Redis keys.
func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkLabelValue allows valid UTF-8 without control characters (NUL
// separates labels in the stored series key) up to max bytes.
func checkLabelValue(v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("label value of %d bytes exceeds %d", len(v), max)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("label value %q is not valid UTF-8", v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("label value %q holds control character %U", v, r)
		}
	}
	return nil
}

func checkLabels(labels []string, lim BatchLimits) error {
	if len(labels)%2 != 0 {
		return reject(ReasonLabel, "odd number of label strings (%d)", len(labels))
	}
	if len(labels)/2 > lim.MaxLabels {
		return reject(ReasonTooLarge, "%d label pairs exceed %d", len(labels)/2, lim.MaxLabels)
	}
	for j := 0; j < len(labels); j += 2 {
		if !codec.ValidLabelName(labels[j]) {
			return reject(ReasonLabel, "label name %q must match [a-zA-Z_][a-zA-Z0-9_]* (at most %d bytes)", truncate(labels[j]), codec.MaxLabelNameLen)
		}
		if err := checkLabelValue(labels[j+1], lim.MaxLabelValueLen); err != nil {
			return reject(ReasonLabel, "label %s: %w", labels[j], err)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// SubjectIdentity splits a stream subject tele.<site>.<host>.<partition>.
func SubjectIdentity(subject string) (site, host string, err error) {
	f := strings.Split(subject, ".")
	if len(f) != 4 || f[0] != "tele" || !validToken(f[1]) || !validToken(f[2]) || f[3] == "" {
		return "", "", reject(ReasonSubject, "subject %q is not tele.<site>.<host>.<partition>", truncate(subject))
	}
	return f[1], f[2], nil
}

// validateBatch checks a decoded batch against the subject it arrived on
// (the identity the hub's per-site permissions vouch for) and lim: the
// batch must claim the subject's site and host, stay within the per-batch
// limits, and carry only names and label values that are safe in Redis
// keys. Errors wrap ErrRejected and are *RejectError. Zero limits mean
// the defaults.
func validateBatch(subject string, b *codec.Batch, lim BatchLimits) error {
	lim = lim.withDefaults()
	site, host, err := SubjectIdentity(subject)
	if err != nil {
		return err
	}
	switch {
	case b.Site != site:
		return reject(ReasonSiteMismatch, "batch of site %q arrived on %s (site %q)", truncate(b.Site), subject, site)
	case b.Host != host:
		return reject(ReasonHostMismatch, "batch of host %q arrived on %s (host %q)", truncate(b.Host), subject, host)
	case b.Agent != site+"/"+host:
		// The agent id keys the agent's wire decoder state: a batch may
		// only claim the agent of its subject.
		return reject(ReasonIdentity, "agent id %q of a batch on %s must be %s/%s", truncate(b.Agent), subject, site, host)
	case len(b.Series) > lim.MaxSeries:
		return reject(ReasonTooLarge, "%d series exceed batches.max_series %d", len(b.Series), lim.MaxSeries)
	case len(b.Rollups) > lim.MaxRollups:
		return reject(ReasonTooLarge, "%d rollups exceed batches.max_rollups %d", len(b.Rollups), lim.MaxRollups)
	case len(b.Events) > lim.MaxEvents:
		return reject(ReasonTooLarge, "%d events exceed batches.max_events %d", len(b.Events), lim.MaxEvents)
	}
	for i := range b.Series {
		s := &b.Series[i]
		if !codec.ValidMetricName(s.Name) {
			return reject(ReasonLabel, "series %d: metric name %q must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most %d bytes)", s.ID, truncate(s.Name), codec.MaxMetricNameLen)
		}
		if err := checkLabels(s.Labels, lim); err != nil {
			return fmt.Errorf("series %s: %w", s.Name, err)
		}
	}
	for i := range b.Events {
		e := &b.Events[i]
		if !codec.ValidMetricName(e.Series) {
			return reject(ReasonLabel, "event %d: signal name %q must match [a-zA-Z_:][a-zA-Z0-9_:]* (at most %d bytes)", i, truncate(e.Series), codec.MaxMetricNameLen)
		}
		if err := checkLabels(e.Labels, lim); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if len(e.Reason) > 1024 || !utf8.ValidString(e.Reason) {
			return reject(ReasonLabel, "event %d: reason must be valid UTF-8 of at most 1024 bytes", i)
		}
	}
	return nil
}

// cardinality tracks the distinct series each host and each site owns on
// this member and caps them. It forgets nothing while the process runs
// (memory is bounded by the caps); after a restart it relearns from
// traffic. Safe for concurrent use.
type cardinality struct {
	mu     sync.Mutex
	hosts  map[string]map[uint64]struct{} // site "\x00" host → series hashes
	sites  map[string]int                 // site → series over all its hosts
	dHost  atomic.Uint64                  // series dropped by the per-host cap
	dSite  atomic.Uint64                  // series dropped by the per-site cap
	nTotal atomic.Int64                   // series tracked
}

func newCardinality() *cardinality {
	return &cardinality{hosts: make(map[string]map[uint64]struct{}), sites: make(map[string]int)}
}

func seriesHash(s *codec.Series) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	for _, l := range s.Labels {
		h.Write([]byte{0})
		h.Write([]byte(l))
	}
	return h.Sum64()
}

// admit registers b's series and removes from b the series (and their
// rollups) that would take the host over lim.MaxSeriesPerHost or the site
// over lim.MaxSeriesPerSite. It returns how many were dropped.
func (c *cardinality) admit(b *codec.Batch, lim BatchLimits) int {
	lim = lim.withDefaults()
	key := b.Site + "\x00" + b.Host
	c.mu.Lock()
	known := c.hosts[key]
	if known == nil {
		known = make(map[uint64]struct{})
		c.hosts[key] = known
	}
	var drop map[uint32]bool
	for i := range b.Series {
		h := seriesHash(&b.Series[i])
		if _, ok := known[h]; ok {
			continue
		}
		switch {
		case len(known) >= lim.MaxSeriesPerHost:
			c.dHost.Add(1)
		case c.sites[b.Site] >= lim.MaxSeriesPerSite:
			c.dSite.Add(1)
		default:
			known[h] = struct{}{}
			c.sites[b.Site]++
			c.nTotal.Add(1)
			continue
		}
		if drop == nil {
			drop = make(map[uint32]bool)
		}
		drop[b.Series[i].ID] = true
	}
	c.mu.Unlock()
	if len(drop) == 0 {
		return 0
	}
	series := b.Series[:0]
	for _, s := range b.Series {
		if !drop[s.ID] {
			series = append(series, s)
		}
	}
	b.Series = series
	rollups := b.Rollups[:0]
	for _, r := range b.Rollups {
		if !drop[r.ID] {
			rollups = append(rollups, r)
		}
	}
	b.Rollups = rollups
	return len(drop)
}

// guard holds the counters of rejected batches and the cardinality caps.
type guard struct {
	lim   BatchLimits
	card  *cardinality
	mu    sync.Mutex
	count map[string]uint64 // reason → rejected batches
}

func newGuard(lim BatchLimits) *guard {
	return &guard{lim: lim.withDefaults(), card: newCardinality(), count: make(map[string]uint64)}
}

func (g *guard) rejectedByReason() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.count)
}
