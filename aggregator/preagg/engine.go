package preagg

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// Engine computes the rules' partials as frames are applied and closes
// the windows whose deadline passed. It keeps no window state in memory:
// the hashes in Redis are the state, so any member continues any
// partition's windows.
type Engine struct {
	cfg        Config
	st         *store.Store
	rdb        redis.UniversalClient
	prefix     string
	region     string
	partitions int
	log        *slog.Logger
	m          *Metrics
	now        func() time.Time
	// owned lists the partitions this member consumes (nil: all); the
	// deadline loop closes only theirs, so one process writes a
	// partition's partials.
	owned func() []int
	// locks serialise, per partition, a partial's script and its write
	// (the consumer's Observe and the deadline loop): the store's reader
	// takes a window's newest record, so versions must land in order.
	locks []sync.Mutex
}

// Frame is a decoded frame and the stream partition it came through.
type Frame struct {
	Partition int
	Batch     *codec.Batch
}

// New returns an Engine over st; region is the value of a "region"
// grouping label, partitions the stream's partition count (the deadline
// loop visits each). It returns nil, nil when cfg has no rules.
func New(cfg Config, st *store.Store, region string, partitions int, log *slog.Logger) (*Engine, error) {
	if len(cfg.Rules) == 0 {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	for i := range cfg.Rules {
		if err := cfg.Rules[i].compile(); err != nil {
			return nil, err
		}
	}
	return &Engine{cfg: cfg, st: st, rdb: st.Client(), prefix: st.Options().Prefix, region: region, partitions: partitions,
		log: log, m: newMetrics(), now: time.Now, locks: make([]sync.Mutex, partitions)}, nil
}

// SetOwned tells the engine which partitions this member consumes now.
func (e *Engine) SetOwned(owned func() []int) { e.owned = owned }

// lock takes partition p's lock (a partition outside the configured
// count, which the stream never produces, shares lock 0).
func (e *Engine) lock(p int) func() {
	if p < 0 || p >= len(e.locks) {
		p = 0
	}
	e.locks[p].Lock()
	return e.locks[p].Unlock
}

// Metrics are the engine's counters (register them on /metrics).
func (e *Engine) Metrics() *Metrics { return e.m }

// hashKey is the partial's hash of rule r, partition p, window end.
func (e *Engine) hashKey(r *Rule, p int, end int64) string {
	return e.prefix + "pa:{" + r.Name + ":" + strconv.Itoa(p) + "}:" + strconv.FormatInt(end, 10)
}

// doneKey is the set of windows of rule r, partition p closed in the last
// 24 h: a host arriving after such a window's state expired is too late,
// not the first host of a new partial (which would replace the stored one).
func (e *Engine) doneKey(r *Rule, p int) string {
	return e.prefix + "pa:{" + r.Name + ":" + strconv.Itoa(p) + "}:done"
}

func (e *Engine) openKey(r *Rule, p int) string {
	return e.prefix + "pa:{" + r.Name + ":" + strconv.Itoa(p) + "}:open"
}

// window identifies one partial.
type window struct {
	rule       int
	part       int
	end, width int64
}

// Observe adds the frames' contributions to their partials (one pipelined
// round trip) and decides their versions: a window closes, or a late host
// makes a new version; the deadline loop ([Engine.Run]) writes the
// versions within a second. Call it before the frames are acknowledged;
// on error hand them back: writing a host's contribution again changes
// nothing.
func (e *Engine) Observe(ctx context.Context, frames []Frame) error {
	fields, order := e.gather(frames)
	return e.closeAndWrite(ctx, order, false, fields)
}

// gather encodes the frames' contributions: host, contribution pairs per
// partial, and the partials in order of appearance.
func (e *Engine) gather(frames []Frame) (map[window][]any, []window) {
	fields := map[window][]any{}
	var order []window
	for _, f := range frames {
		b := f.Batch
		for ri := range e.cfg.Rules {
			c := e.contribution(&e.cfg.Rules[ri], b)
			if c == nil {
				continue
			}
			w := window{ri, f.Partition, b.Start + b.Width, b.Width}
			if _, ok := fields[w]; !ok {
				order = append(order, w)
			}
			fields[w] = append(fields[w], b.Host, c)
		}
	}
	return fields, order
}

// closeAndWrite runs the script for each of ws (one pipelined round
// trip), writes the partials they return (one store write) and confirms
// them (one round trip), under the partitions' locks: the cost per frame
// batch does not grow with the number of rules.
func (e *Engine) closeAndWrite(ctx context.Context, ws []window, force bool, fields map[window][]any) error {
	if len(ws) == 0 {
		return nil
	}
	var parts []int
	for _, w := range ws {
		if !slices.Contains(parts, w.part) {
			parts = append(parts, w.part)
		}
	}
	slices.Sort(parts)
	for _, p := range parts {
		defer e.lock(p)()
	}
	cs, err := e.runAll(ctx, ws, force, fields)
	if err != nil || len(cs) == 0 {
		return err
	}
	if err := e.write(ctx, cs); err != nil {
		return err
	}
	e.m.written.Add(float64(len(cs)))
	// Written: the windows leave the open set until their next version.
	pipe := e.rdb.Pipeline()
	for _, c := range cs {
		pipe.ZRem(ctx, e.openKey(&e.cfg.Rules[c.w.rule], c.w.part), c.w.end)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		e.m.errors.Inc()
		return fmt.Errorf("preagg: confirming %d partials: %w", len(cs), err)
	}
	return nil
}

// contribution encodes b's contribution to rule r, nil when no series of
// b matches.
func (e *Engine) contribution(r *Rule, b *codec.Batch) []byte {
	byID := make(map[uint32]*codec.Series, len(b.Series))
	for i := range b.Series {
		byID[b.Series[i].ID] = &b.Series[i]
	}
	groups := map[string]*part{}
	var keys []string
	for i := range b.Rollups {
		ru := &b.Rollups[i]
		s := byID[ru.ID]
		if s == nil || s.Name != r.metric {
			continue
		}
		lbls := store.SeriesLabels(b, s)
		if !matches(r.matchers, s.Name, lbls) {
			continue
		}
		v, ok := value(r.Value, ru)
		if !ok {
			continue
		}
		key := groupKey(r.By, lbls, e.region)
		g := groups[key]
		if g == nil {
			g = &part{}
			groups[key] = g
			keys = append(keys, key)
		}
		g.add(v)
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	var out []byte
	for _, k := range keys {
		out = appendContrib(out, k, *groups[k])
	}
	return out
}

// matches applies the matchers to a series' name and stored labels
// (sorted name, value pairs).
func matches(ms []*labels.Matcher, name string, lbls []string) bool {
	for _, m := range ms {
		v := name
		if m.Name != labels.MetricName {
			v = labelValue(lbls, m.Name)
		}
		if !m.Matches(v) {
			return false
		}
	}
	return true
}

func labelValue(lbls []string, name string) string {
	for i := 0; i+1 < len(lbls); i += 2 {
		if lbls[i] == name {
			return lbls[i+1]
		}
	}
	return ""
}

// groupKey joins the values of the by labels (region is the engine's).
func groupKey(by []string, lbls []string, region string) string {
	var sb strings.Builder
	for i, l := range by {
		if i > 0 {
			sb.WriteByte(0)
		}
		if l == "region" {
			sb.WriteString(region)
		} else {
			sb.WriteString(labelValue(lbls, l))
		}
	}
	return sb.String()
}

// value is the statistic of a rollup a rule aggregates.
func value(stat string, r *codec.Rollup) (float64, bool) {
	if r.Count == 0 {
		return 0, false
	}
	switch stat {
	case "last":
		return r.Last, true
	case "min":
		return r.Min, true
	case "max":
		return r.Max, true
	default:
		return r.Sum / float64(r.Count), true
	}
}

// closeSrc adds host contributions to a partial's hash and decides its
// versions; the deadline loop runs it again to write them. KEYS: the
// window's hash, the previous window's, the rule and partition's open
// set, its done set. ARGV: close share, close deadline (Unix ms),
// expire-at of the hash, window end, force ("1": from the deadline loop,
// the entry is due), width, now (Unix ms), then host, contribution pairs.
//
// The open set holds a window while it is open, with its close deadline,
// and from each new version on, due at once, until the loop has written
// the version and removed it. So every version is written by the loop of
// the partition's owner, at most once a second per window, and a version
// whose write failed (or whose member died) is written on a later tick.
//
// With contributions it returns {0, expected} when no version was decided,
// {-1, 0} when the window was closed and its state has expired (the hosts
// are too late), else {version, expected, kind (1 closed by share, 2 late
// host)}. From the loop it returns {0, 0} when the hash is gone, else
// {version, expected, kind (1 closed by deadline, 3 write of a version),
// HGETALL}.
const closeSrc = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[4])
  if #ARGV <= 7 then return {0, 0} end
  if redis.call('ZSCORE', KEYS[4], ARGV[4]) then return {-1, 0} end
end
local added = 0
if #ARGV > 7 then
  redis.call('HSETNX', KEYS[1], '\0v', 0)
  redis.call('HSET', KEYS[1], '\0w', ARGV[6])
  for i = 8, #ARGV, 2 do added = added + redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
local n = redis.call('HLEN', KEYS[1]) - 2
local e = redis.call('HLEN', KEYS[2])
if e > 0 then e = e - 2 end
local v = tonumber(redis.call('HGET', KEYS[1], '\0v'))
local function decided(kind)
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[4])
  redis.call('PEXPIREAT', KEYS[3], ARGV[3])
  if ARGV[5] == '1' then return {v, e, kind, redis.call('HGETALL', KEYS[1])} end
  return {v, e, kind}
end
local function close()
  v = redis.call('HINCRBY', KEYS[1], '\0v', 1)
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', tonumber(ARGV[7]) - 86400000)
  redis.call('PEXPIRE', KEYS[4], 90000000)
end
if ARGV[5] == '1' then
  if v == 0 then
    close()
    return decided(1)
  end
  return decided(3)
end
if v > 0 then
  if added == 0 then return {0, e} end
  v = redis.call('HINCRBY', KEYS[1], '\0v', 1)
  return decided(2)
end
if e > 0 and n >= tonumber(ARGV[1]) * e then
  close()
  return decided(1)
end
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[4])
redis.call('PEXPIREAT', KEYS[3], ARGV[3])
return {0, e}
`

var closeScript = redis.NewScript(closeSrc)

// closed is a partial to write: its version and the hosts' fields.
type closed struct {
	w        window
	version  int64
	expected int64
	hosts    map[string]string
}

// run executes closeSrc for w with the given host, contribution pairs
// (none for a deadline close); nil when nothing is to be written.
func (e *Engine) run(ctx context.Context, w window, force bool, pairs []any) (*closed, error) {
	cs, err := e.runAll(ctx, []window{w}, force, map[window][]any{w: pairs})
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	return &cs[0], nil
}

// runAll executes closeSrc for each of ws in one pipeline and returns the
// partials to write.
func (e *Engine) runAll(ctx context.Context, ws []window, force bool, fields map[window][]any) ([]closed, error) {
	exec := func() ([]*redis.Cmd, error) {
		pipe := e.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(ws))
		for i, w := range ws {
			keys, args := e.scriptArgs(w, force, fields[w])
			cmds[i] = pipe.EvalSha(ctx, closeScript.Hash(), keys, args...)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := exec()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = closeScript.Load(ctx, e.rdb).Err(); err == nil {
			cmds, err = exec()
		}
	}
	if err != nil {
		e.m.errors.Inc()
		return nil, fmt.Errorf("preagg: %d partials, first rule %s partition %d window %d: %w", len(ws), e.cfg.Rules[ws[0].rule].Name, ws[0].part, ws[0].end, err)
	}
	var out []closed
	for i, w := range ws {
		res, err := cmds[i].Slice()
		if err != nil {
			e.m.errors.Inc()
			return nil, fmt.Errorf("preagg: rule %s partition %d window %d: %w", e.cfg.Rules[w.rule].Name, w.part, w.end, err)
		}
		if c := e.parse(w, force, len(fields[w])/2, res); c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// scriptArgs are closeSrc's keys and arguments for w.
func (e *Engine) scriptArgs(w window, force bool, pairs []any) ([]string, []any) {
	r := &e.cfg.Rules[w.rule]
	keys := []string{e.hashKey(r, w.part, w.end), e.hashKey(r, w.part, w.end-w.width), e.openKey(r, w.part), e.doneKey(r, w.part)}
	f := "0"
	if force {
		f = "1"
	}
	// The state lives Late after the window's end, or after now for a
	// window written long after it (an agent's spool replayed after an
	// outage is aggregated too; its deadline has passed, so it closes at
	// once and each later host is a new version).
	expireAt := max(w.end, e.now().UnixMilli()) + e.cfg.Late.Milliseconds()
	return keys, append([]any{e.cfg.CloseShare, w.end + e.cfg.Deadline.Milliseconds(), expireAt, w.end, f, w.width, e.now().UnixMilli()}, pairs...)
}

// parse reads closeSrc's answer for w (hosts: the contributions sent).
func (e *Engine) parse(w window, force bool, hosts int, res []any) *closed {
	v, _ := res[0].(int64)
	if v < 0 {
		e.m.tooLate.Add(float64(hosts))
		return nil
	}
	if v == 0 || len(res) < 3 {
		return nil
	}
	kind, _ := res[2].(int64)
	switch {
	case kind == 2:
		e.m.late.Inc()
	case kind == 1 && force:
		e.m.closed.WithLabelValues("deadline").Inc()
	case kind == 1:
		e.m.closed.WithLabelValues("share").Inc()
	}
	if len(res) < 4 {
		return nil // decided; the deadline loop writes it
	}
	c := &closed{w: w, version: v, hosts: map[string]string{}}
	c.expected, _ = res[1].(int64)
	kv, _ := res[3].([]any)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		val, _ := kv[i+1].(string)
		switch k {
		case "\x00v":
		case "\x00w":
			if wd, err := strconv.ParseInt(val, 10, 64); err == nil && wd > 0 {
				c.w.width = wd
			}
		default:
			c.hosts[k] = val
		}
	}
	return c
}
