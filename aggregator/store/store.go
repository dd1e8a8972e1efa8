package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// Options configure a Store.
type Options struct {
	Addr string `yaml:"addr"` // host:port; default 127.0.0.1:6379
	// Addrs are the seed nodes of a Redis Cluster (host:port each).
	Addrs []string `yaml:"addrs"`
	// MasterName is the master the Sentinels at SentinelAddrs monitor.
	MasterName    string   `yaml:"master_name"`
	SentinelAddrs []string `yaml:"sentinel_addrs"`
	// Username is the Redis 6+ ACL user; empty means the default user.
	Username string `yaml:"username"`
	// Password is the ACL user's password (or requirepass); optional.
	Password string `yaml:"password"`
	// PasswordFile is read for the password when Password is empty, so the
	// secret stays out of the config file; trailing newlines are dropped.
	PasswordFile string `yaml:"password_file"`
	DB           int    `yaml:"db"` // Redis database number
	// Prefix starts every key, so several deployments (or an ACL that
	// allows only ~prefix*) can share one Redis; default "ep:", at most 64
	// printable bytes without spaces.
	Prefix    string        `yaml:"prefix"`
	Retention time.Duration `yaml:"retention"` // data TTL; default 15 days
	// HourlyRetention is the TTL of the hourly tier (<p>h:<sid>), merged
	// from the minute windows; default 400 days, at least Retention.
	HourlyRetention time.Duration `yaml:"hourly_retention"`
}

// Validate names the first bad field.
func (o Options) Validate() error {
	switch {
	case o.Retention < 0:
		return fmt.Errorf("store: retention %v must be ≥ 0", o.Retention)
	case o.HourlyRetention < 0:
		return fmt.Errorf("store: hourly_retention %v must be ≥ 0", o.HourlyRetention)
	case o.HourlyRetention > 0 && o.Retention > 0 && o.HourlyRetention < o.Retention:
		return fmt.Errorf("store: hourly_retention %v must be at least retention %v", o.HourlyRetention, o.Retention)
	case o.DB < 0 || o.DB > 15:
		return fmt.Errorf("store: db %d must be between 0 and 15", o.DB)
	case len(o.Prefix) > 64:
		return fmt.Errorf("store: prefix of %d bytes must be at most 64", len(o.Prefix))
	case o.Password != "" && o.PasswordFile != "":
		return errors.New("store: set password or password_file, not both")
	}
	for _, c := range []byte(o.Prefix) {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("store: prefix %q may hold only printable ASCII without spaces", o.Prefix)
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
}

// Store reads and writes rollups in Redis.
type Store struct {
	rdb  *redis.Client
	opts Options

	mu sync.Mutex
	// agents caches each agent's series (write.go): ids, keys, whether
	// the index entries are written and when each TTL was refreshed.
	agents map[string]*agentSeries
	// indexed holds the names and label values known written to the
	// index sets ("set\x00member").
	indexed map[string]struct{}

	password string         // resolved Options.Password or PasswordFile
	conns    chan *respConn // idle connections of the write path (resp.go)
}

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
	rdb := redis.NewClient(&redis.Options{Addr: opts.Addr, Username: opts.Username, Password: pw, DB: opts.DB})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("store: redis %s: %w", opts.Addr, err)
	}
	return &Store{rdb: rdb, opts: opts, agents: make(map[string]*agentSeries), indexed: make(map[string]struct{}),
		password: pw, conns: make(chan *respConn, 8)}, nil
}

// Retention is the minute tier's TTL (Options.Retention after defaults).
func (s *Store) Retention() time.Duration { return s.opts.Retention }

// Close closes the Redis client.
func (s *Store) Close() error {
	s.closeConns()
	return s.rdb.Close()
}

// Client exposes the Redis client (for health checks and tests).
func (s *Store) Client() *redis.Client { return s.rdb }

func (s *Store) key(parts ...string) string { return s.opts.Prefix + strings.Join(parts, "") }

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

// Apply writes every rollup of b in one pipeline (a Write of one batch).
// Applying the same batch again changes nothing.
func (s *Store) Apply(ctx context.Context, b *codec.Batch) error {
	w := s.NewWrite()
	if err := w.Add(ctx, b); err != nil {
		return err
	}
	if err := w.Exec(ctx); err != nil {
		return fmt.Errorf("store: apply batch %s seq %d: %w", b.Agent, b.Seq, err)
	}
	return nil
}

// expireEvery bounds how often a series' TTL is refreshed: its data
// expires between Retention−expireEvery and Retention after its last
// window. (Refreshing on every window doubled the commands per rollup.)
const expireEvery = 3600

// Point is one stored window of one series.
type Point struct {
	End, Width                 int64
	Count                      uint32
	Sum, Min, Max, First, Last float64
	P50, P90, P99              float64
	HasQuantiles               bool
}

// AppendMember encodes a rollup as its ZSET member.
func AppendMember(b []byte, end, width int64, r *codec.Rollup) []byte {
	b = strconv.AppendInt(b, end, 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, width, 10)
	b = append(b, '|')
	b = strconv.AppendUint(b, uint64(r.Count), 10)
	for _, v := range []float64{r.Sum, r.Min, r.Max, r.First, r.Last} {
		b = append(b, '|')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	for _, v := range r.Quantiles {
		b = append(b, '|')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

// ParseMember decodes a ZSET member.
func ParseMember(m string) (Point, error) {
	f := strings.Split(m, "|")
	if len(f) != 8 && len(f) != 11 {
		return Point{}, fmt.Errorf("store: member %q has %d fields, want 8 or 11", m, len(f))
	}
	var p Point
	var err error
	num := func(i int) float64 {
		if err != nil {
			return 0
		}
		var v float64
		v, err = strconv.ParseFloat(f[i], 64)
		return v
	}
	p.End = int64(num(0))
	p.Width = int64(num(1))
	p.Count = uint32(num(2))
	p.Sum, p.Min, p.Max, p.First, p.Last = num(3), num(4), num(5), num(6), num(7)
	if len(f) == 11 {
		p.P50, p.P90, p.P99, p.HasQuantiles = num(8), num(9), num(10), true
	}
	if err != nil {
		return Point{}, fmt.Errorf("store: member %q: %w", m, err)
	}
	return p, nil
}

// SeriesRef is one stored series: its id and labels (including __name__
// as the first pair's value under key "__name__").
type SeriesRef struct {
	ID     string
	Name   string
	Labels []string // sorted name/value pairs, without __name__
}

// Names lists the stored metric names.
func (s *Store) Names(ctx context.Context) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("names")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: names: %w", err)
	}
	return v, nil
}

// SeriesOf returns the series of the given metric names.
func (s *Store) SeriesOf(ctx context.Context, names []string) ([]SeriesRef, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.SMembers(ctx, s.key("name:", n))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("store: series of %d names: %w", len(names), err)
	}
	var sids []string
	for _, c := range cmds {
		sids = append(sids, c.Val()...)
	}
	if len(sids) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.key("series"), sids...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: series labels: %w", err)
	}
	out := make([]SeriesRef, 0, len(sids))
	for i, v := range vals {
		canon, ok := v.(string)
		if !ok {
			continue
		}
		parts := strings.Split(canon, "\x00")
		if len(parts)%2 != 1 {
			return nil, fmt.Errorf("store: series %s has malformed labels %q", sids[i], canon)
		}
		out = append(out, SeriesRef{ID: sids[i], Name: parts[0], Labels: parts[1:]})
	}
	return out, nil
}

// Points returns the stored windows of each series ending in [mint, maxt]
// (Unix ms), oldest first, one per window end (should two differing
// members ever share a window, the lexically last wins).
func (s *Store) Points(ctx context.Context, sids []string, mint, maxt int64) ([][]Point, error) {
	return s.rangePoints(ctx, "d:", "points", sids, mint, maxt)
}

// rangePoints reads the members of each series' zset under prefix (d: the
// minute windows, h: the hourly tier) whose window ends are in [mint,
// maxt], oldest first, one per window end (the lexically last wins).
func (s *Store) rangePoints(ctx context.Context, prefix, what string, sids []string, mint, maxt int64) ([][]Point, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(sids))
	for i, sid := range sids {
		cmds[i] = pipe.ZRangeByScore(ctx, s.key(prefix, sid), &redis.ZRangeBy{
			Min: strconv.FormatInt(mint, 10), Max: strconv.FormatInt(maxt, 10),
		})
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("store: %s of %d series: %w", what, len(sids), err)
	}
	out := make([][]Point, len(sids))
	for i, c := range cmds {
		pts := make([]Point, 0, len(c.Val())+2)
		for _, m := range c.Val() {
			p, err := ParseMember(m)
			if err != nil {
				return nil, err
			}
			if n := len(pts); n > 0 && pts[n-1].End == p.End {
				pts[n-1] = p
				continue
			}
			pts = append(pts, p)
		}
		out[i] = pts
	}
	return out, nil
}

// LabelNames lists the stored label names.
func (s *Store) LabelNames(ctx context.Context) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("lnames")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: label names: %w", err)
	}
	return v, nil
}

// LabelValues lists the values stored for a label.
func (s *Store) LabelValues(ctx context.Context, name string) ([]string, error) {
	v, err := s.rdb.SMembers(ctx, s.key("lv:", name)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: label %q values: %w", name, err)
	}
	return v, nil
}
