package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// Options configure a Store. Exactly one of the three ways to reach Redis
// is used: Addrs (a Redis Cluster, seed nodes), MasterName with
// SentinelAddrs (a master watched by Redis Sentinel), or Addr (one
// server, the default).
type Options struct {
	Addr string `yaml:"addr"` // host:port of a standalone Redis; default 127.0.0.1:6379
	// Addrs are seed nodes of a Redis Cluster (host:port each). Every
	// key an agent writes carries the agent in a hash tag, so one agent's
	// keys share a slot (see doc.go).
	Addrs []string `yaml:"addrs"`
	// MasterName is the master's name in Redis Sentinel; SentinelAddrs
	// are the sentinels (host:port). Reads and writes follow the master
	// through a failover.
	MasterName    string   `yaml:"master_name"`
	SentinelAddrs []string `yaml:"sentinel_addrs"`
	// SentinelPassword authenticates to the sentinels (their
	// requirepass), when set.
	SentinelPassword string `yaml:"sentinel_password"`
	// Username is the Redis 6+ ACL user; empty means the default user.
	Username string `yaml:"username"`
	// Password is the ACL user's password (or requirepass); optional.
	Password string `yaml:"password"`
	// PasswordFile is read for the password when Password is empty, so the
	// secret stays out of the config file; trailing newlines are dropped.
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"` // Redis database number (not with Addrs: a cluster has only 0)
	// Prefix starts every key, so several deployments (or an ACL that
	// allows only ~prefix*) can share one Redis; default "ep:", at most 64
	// printable bytes without spaces or braces.
	Prefix string `yaml:"prefix"`
	// Retention is how long the minute tier keeps a window: each hour
	// block's key expires at the block's end plus Retention (in the
	// windows' own time); default 15 days.
	Retention time.Duration `yaml:"retention"`
	// DecodedCacheWindows bounds the decoded chunks kept across queries
	// (chunkcache.go), in windows (96 B each); 0: the default
	// (DefaultDecodedCacheWindows), < 0: off.
	DecodedCacheWindows int `yaml:"decoded_cache_windows"`
	// HourlyRetention is the same for the hourly tier (one window per
	// hour, merged from the minute windows); default 400 days, at least
	// Retention.
	HourlyRetention time.Duration `yaml:"hourly_retention"`
	// MemoryWarnFraction is the share of maxmemory above which the
	// aggregator warns (and sets edgepulse_store_memory_warning); default
	// 0.8, range (0, 1].
	MemoryWarnFraction float64 `yaml:"memory_warn_fraction"`
	// IncidentLogRetention is how long the incident event log ({inc}log)
	// keeps an event, by the event's time; default 720h (30 days, the
	// longest the console lists), at least 1h.
	IncidentLogRetention time.Duration `yaml:"incident_log_retention"`
	// IncidentLogMax bounds the events the log keeps (the oldest go
	// first); default 50,000 (≈ 48 MB of Redis), 100 to 10,000,000.
	IncidentLogMax int `yaml:"incident_log_max"`
	// IncidentOpenMaxAge is how long an incident stays open ({inc}open)
	// after its last event without a close: past it the store closes it
	// as expired (incidentexpiry.go); default 168h (7 days), 1h to 8760h.
	IncidentOpenMaxAge time.Duration `yaml:"incident_open_max_age"`
	// IncidentOpenMax bounds the open incidents: past it the oldest are
	// closed as expired first; default 10,000 (≈ 17 MB of Redis), 100 to
	// 1,000,000.
	IncidentOpenMax int `yaml:"incident_open_max"`
}

// Validate names the first bad field.
func (o Options) Validate() error {
	switch {
	case o.Retention < 0:
		return fmt.Errorf("store: retention %v must be ≥ 0", o.Retention)
	case o.Retention > 0 && o.Retention < time.Hour:
		return fmt.Errorf("store: retention %v must be at least 1h (data is kept in hour blocks)", o.Retention)
	case o.HourlyRetention < 0:
		return fmt.Errorf("store: hourly_retention %v must be ≥ 0", o.HourlyRetention)
	case o.HourlyRetention > 0 && o.Retention > 0 && o.HourlyRetention < o.Retention:
		return fmt.Errorf("store: hourly_retention %v must be at least retention %v", o.HourlyRetention, o.Retention)
	case o.DB < 0 || o.DB > 15:
		return fmt.Errorf("store: db %d must be between 0 and 15", o.DB)
	case len(o.Addrs) > 0 && o.DB != 0:
		return fmt.Errorf("store: db %d: a Redis Cluster (addrs) has only database 0", o.DB)
	case len(o.Addrs) > 0 && o.MasterName != "":
		return errors.New("store: set addrs (Redis Cluster) or master_name (Sentinel), not both")
	case o.MasterName != "" && len(o.SentinelAddrs) == 0:
		return errors.New("store: master_name needs sentinel_addrs (host:port of the sentinels)")
	case o.MasterName == "" && len(o.SentinelAddrs) > 0:
		return errors.New("store: sentinel_addrs needs master_name (the master's name in Sentinel)")
	case len(o.Prefix) > 64:
		return fmt.Errorf("store: prefix of %d bytes must be at most 64", len(o.Prefix))
	case o.MemoryWarnFraction < 0 || o.MemoryWarnFraction > 1 || math.IsNaN(o.MemoryWarnFraction):
		return fmt.Errorf("store: memory_warn_fraction %v must be in (0, 1] (0: the default 0.8)", o.MemoryWarnFraction)
	case o.Password != "" && o.PasswordFile != "":
		return errors.New("store: set password or password_file, not both")
	case o.IncidentLogRetention < 0 || (o.IncidentLogRetention > 0 && o.IncidentLogRetention < time.Hour):
		return fmt.Errorf("store: incident_log_retention %v must be at least 1h (0: the default %v)", o.IncidentLogRetention, DefaultIncidentLogRetention)
	case o.IncidentLogMax < 0 || (o.IncidentLogMax > 0 && o.IncidentLogMax < 100) || o.IncidentLogMax > 10_000_000:
		return fmt.Errorf("store: incident_log_max %d must be between 100 and 10000000 (0: the default %d)", o.IncidentLogMax, DefaultIncidentLogMax)
	case o.IncidentOpenMaxAge < 0 || (o.IncidentOpenMaxAge > 0 && (o.IncidentOpenMaxAge < time.Hour || o.IncidentOpenMaxAge > 8760*time.Hour)):
		return fmt.Errorf("store: incident_open_max_age %v must be between 1h and 8760h (0: the default %v)", o.IncidentOpenMaxAge, DefaultIncidentOpenMaxAge)
	case o.IncidentOpenMax < 0 || (o.IncidentOpenMax > 0 && o.IncidentOpenMax < 100) || o.IncidentOpenMax > 1_000_000:
		return fmt.Errorf("store: incident_open_max %d must be between 100 and 1000000 (0: the default %d)", o.IncidentOpenMax, DefaultIncidentOpenMax)
	}
	for _, c := range []byte(o.Prefix) {
		if c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return fmt.Errorf("store: prefix %q may hold only printable ASCII without spaces or braces", o.Prefix)
		}
	}
	for _, a := range append(append([]string{}, o.Addrs...), o.SentinelAddrs...) {
		if a == "" || !strings.Contains(a, ":") {
			return fmt.Errorf("store: address %q must be host:port", a)
		}
	}
	return nil
}

// password returns Password or the content of PasswordFile.
func (o Options) password() (string, error) {
	if o.PasswordFile == "" {
		return o.Password, nil
	}
	b, err := os.ReadFile(o.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("store: password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:6379"
	}
	if o.Prefix == "" {
		o.Prefix = "ep:"
	}
	if o.Retention == 0 {
		o.Retention = 15 * 24 * time.Hour
	}
	if o.HourlyRetention == 0 {
		o.HourlyRetention = max(400*24*time.Hour, o.Retention)
	}
	if o.DecodedCacheWindows == 0 {
		o.DecodedCacheWindows = DefaultDecodedCacheWindows
	}
	if o.MemoryWarnFraction == 0 {
		o.MemoryWarnFraction = DefaultMemoryWarnFraction
	}
	if o.IncidentLogRetention == 0 {
		o.IncidentLogRetention = DefaultIncidentLogRetention
	}
	if o.IncidentLogMax == 0 {
		o.IncidentLogMax = DefaultIncidentLogMax
	}
	if o.IncidentOpenMaxAge == 0 {
		o.IncidentOpenMaxAge = DefaultIncidentOpenMaxAge
	}
	if o.IncidentOpenMax == 0 {
		o.IncidentOpenMax = DefaultIncidentOpenMax
	}
}

// Where names the Redis the options point at, for messages.
func (o Options) Where() string {
	switch {
	case len(o.Addrs) > 0:
		return "cluster " + strings.Join(o.Addrs, ",")
	case o.MasterName != "":
		return "sentinel master " + o.MasterName + " via " + strings.Join(o.SentinelAddrs, ",")
	}
	return o.Addr
}

// DefaultMemoryWarnFraction is Options.MemoryWarnFraction's default.
const DefaultMemoryWarnFraction = 0.8

// MemoryWarnFraction is Options.MemoryWarnFraction after defaults.
func (s *Store) MemoryWarnFraction() float64 { return s.opts.MemoryWarnFraction }

// conn is what every component of a Store shares: the Redis client, the
// options after defaults, the clock and the counters several components
// add to. Components hold a pointer to the one conn of their Store.
type conn struct {
	rdb  redis.UniversalClient
	opts Options
	now  func() time.Time // the clock; time.Now
	// corrupt counts chunks that could not be decoded (left as they
	// are; reads skip them and say so).
	corrupt atomic.Uint64
	// expired counts windows not written because their block's expiry
	// (end + retention, data time) had passed when they arrived.
	expired atomic.Uint64
	// incTrimmed counts incident log events removed by its bounds.
	incTrimmed atomic.Uint64
	// incExpiredAge and incExpiredCap count open incidents the store
	// closed as expired (incidentexpiry.go), by their bound; incLate the
	// events that arrived for an incident after it was expired.
	incExpiredAge, incExpiredCap, incLate atomic.Uint64
	// incCapErrs counts failed expiries by a write past the cap (the
	// periodic sweep retries them).
	incCapErrs atomic.Uint64
}

// Store reads and writes rollups in Redis. It is the package's facade:
// each embedded component has one concern (doc.go lists them) and its
// methods are the Store's.
type Store struct {
	*conn
	*writer
	*reader
	*labelIndex
	*incidentLog
	*health
	*meter
}

// Expired is the number of windows not written because they arrived
// after their hour's expiry (older than the retention).
func (s *Store) Expired() uint64 { return s.expired.Load() }

// Corrupt is the number of stored chunks found undecodable so far.
func (s *Store) Corrupt() uint64 { return s.corrupt.Load() }

// Open connects to Redis and checks it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	pw, err := opts.password()
	if err != nil {
		return nil, err
	}
	var rdb redis.UniversalClient
	var fence *restartFence
	switch {
	case len(opts.Addrs) > 0:
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: opts.Addrs, Username: opts.Username, Password: pw,
			MaxRedirects: 8})
	case opts.MasterName != "":
		rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: opts.MasterName, SentinelAddrs: opts.SentinelAddrs,
			SentinelPassword: opts.SentinelPassword, Username: opts.Username, Password: pw, DB: opts.DB})
	default:
		fence = newRestartFence()
		rdb = redis.NewClient(&redis.Options{Addr: opts.Addr, Username: opts.Username, Password: pw, DB: opts.DB,
			OnConnect: fence.onConnect})
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("store: redis %s: %w", opts.Where(), err)
	}
	c := &conn{rdb: rdb, opts: opts, now: time.Now}
	w := &writer{conn: c, agents: make(map[string]*agentSeries)}
	idx := &labelIndex{c}
	s := &Store{conn: c, writer: w,
		reader:      &reader{conn: c, decoded: newDecodedCache(opts.DecodedCacheWindows)},
		labelIndex:  idx,
		incidentLog: &incidentLog{c},
		health:      &health{conn: c, writes: w, fence: fence},
		meter:       &meter{conn: c, index: idx},
	}
	go func() {
		lctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.findLegacy(lctx)
	}()
	return s, nil
}

// Retention is the minute tier's TTL (Options.Retention after defaults).
func (s *Store) Retention() time.Duration { return s.opts.Retention }

// Options returns the options after defaults.
func (s *Store) Options() Options { return s.opts }

// Close closes the Redis client.
func (s *Store) Close() error { return s.rdb.Close() }

// Client exposes the Redis client (for health checks and tests).
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// SeriesID is the stable id of a series given as name and sorted label
// pairs.
func SeriesID(canon string) string {
	h := fnv.New64a()
	h.Write([]byte(canon))
	return fmt.Sprintf("%016x", h.Sum64())
}

// Canon renders name and sorted label pairs as "name\x00k\x00v…".
func Canon(name string, labels []string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range labels {
		b.WriteByte(0)
		b.WriteString(l)
	}
	return b.String()
}

// SeriesLabels returns the labels the store keeps for a series of a batch:
// the agent's labels plus site and instance (the host), sorted by name.
func SeriesLabels(b *codec.Batch, s *codec.Series) []string {
	out := make([]string, 0, len(s.Labels)+4)
	extra := [][2]string{{"instance", b.Host}, {"site", b.Site}}
	i := 0
	for j := 0; j < len(s.Labels); j += 2 {
		for i < len(extra) && extra[i][0] < s.Labels[j] {
			out = append(out, extra[i][0], extra[i][1])
			i++
		}
		if i < len(extra) && extra[i][0] == s.Labels[j] {
			// The aggregator's identity labels win over an agent's.
			out = append(out, extra[i][0], extra[i][1])
			i++
			continue
		}
		out = append(out, s.Labels[j], s.Labels[j+1])
	}
	for ; i < len(extra); i++ {
		out = append(out, extra[i][0], extra[i][1])
	}
	return out
}

// Apply writes every rollup of b (a Write of one batch, marked applied
// under its seq). Applying the same batch again changes nothing.
func (s *Store) Apply(ctx context.Context, b *codec.Batch) error {
	w := s.NewWrite()
	if err := w.Add(ctx, b); err != nil {
		return err
	}
	w.MarkApplied(ctx, b.Agent, b.Seq)
	if err := w.Exec(ctx); err != nil {
		return fmt.Errorf("store: apply batch %s seq %d: %w", b.Agent, b.Seq, err)
	}
	return nil
}

// Point is one stored window of one series.
type Point = codec.Window
