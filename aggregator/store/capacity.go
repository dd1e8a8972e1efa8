package store

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// meter measures what the store holds: series, windows, Redis memory,
// cardinalities (capacity.go) and the backhaul meter (backhaul.go).
type meter struct {
	*conn
	index *labelIndex // the names and label names counted
}

// Capacity is what the store holds and costs.
type Capacity struct {
	Series        int64 // series in the index (HLEN <p>series)
	StoredWindows int64 // windows stored in the minute tier within retention
	// MinTime and MaxTime (Unix ms) are the start of the oldest and the
	// end of the newest hour within retention with stored windows; 0 when
	// there are none.
	MinTime, MaxTime int64
	UsedMemory       int64   // Redis used_memory summed over masters
	MaxMemory        int64   // maxmemory summed over masters (0 = no limit on some master)
	BytesPerWindow   float64 // UsedMemory / StoredWindows (0 without windows)
	Masters          int
}

// Capacity counts the series and the minute-tier windows stored and reads
// Redis's memory (INFO memory on every master). It costs one HLEN, one
// pipelined GET per hour of retention and one INFO per master.
func (s *meter) Capacity(ctx context.Context) (Capacity, error) {
	var c Capacity
	now := time.Now().UnixMilli()
	last := now / HourMs
	first := (now - s.opts.Retention.Milliseconds()) / HourMs
	pipe := s.rdb.Pipeline()
	series := pipe.HLen(ctx, s.key("series"))
	// GETs, not one MGET: the hours' keys lie in different slots of a
	// Redis Cluster.
	counts := make([]*redis.StringCmd, 0, last-first+1)
	for h := first; h <= last; h++ {
		counts = append(counts, pipe.Get(ctx, s.windowCountKey(h)))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return c, fmt.Errorf("store: capacity: %w", err)
	}
	c.Series = series.Val()
	for i, cmd := range counts {
		n, err := cmd.Int64()
		if errors.Is(err, redis.Nil) || n <= 0 {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("store: capacity: window count of hour %d: %w", first+int64(i), err)
		}
		c.StoredWindows += n
		h := first + int64(i)
		if c.MinTime == 0 {
			c.MinTime = h * HourMs
		}
		c.MaxTime = (h + 1) * HourMs
	}
	var err error
	if c.UsedMemory, c.MaxMemory, c.Masters, err = memoryOf(ctx, s.rdb); err != nil {
		return c, err
	}
	if c.StoredWindows > 0 {
		c.BytesPerWindow = float64(c.UsedMemory) / float64(c.StoredWindows)
	}
	return c, nil
}

// memoryOf sums used_memory and maxmemory over the masters of a Redis
// Cluster, or reads them from the one node of any other client (a
// Sentinel client asks the current master). maxmemory is 0 when any master
// has none.
func memoryOf(ctx context.Context, c redis.UniversalClient) (used, maxMem int64, masters int, err error) {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		u, m, err := nodeMemory(ctx, c)
		if err != nil {
			return 0, 0, 0, err
		}
		return u, m, 1, nil
	}
	var mu sync.Mutex
	unbounded := false
	err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		u, m, err := nodeMemory(ctx, node)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		used += u
		maxMem += m
		unbounded = unbounded || m == 0
		masters++
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	if unbounded {
		maxMem = 0
	}
	return used, maxMem, masters, nil
}

func nodeMemory(ctx context.Context, c redis.Cmdable) (used, maxMem int64, err error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("store: INFO memory: %w", err)
	}
	return parseMemoryInfo(info)
}

// parseMemoryInfo reads used_memory and maxmemory from INFO memory's text.
func parseMemoryInfo(info string) (used, maxMem int64, err error) {
	found := 0
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok || (k != "used_memory" && k != "maxmemory") {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("store: INFO memory: %s %q: %w", k, v, err)
		}
		if k == "used_memory" {
			used = n
		} else {
			maxMem = n
		}
		found++
	}
	if found < 2 {
		return 0, 0, errors.New("store: INFO memory lacks used_memory or maxmemory")
	}
	return used, maxMem, nil
}

// Count is a name and how many series or values it has.
type Count struct {
	Name  string
	Value int64
}

// SeriesPerName counts the series of every metric name (SCARD
// <p>name:<metric> for each of <p>names), largest first.
func (s *meter) SeriesPerName(ctx context.Context) ([]Count, error) {
	names, err := s.index.Names(ctx)
	if err != nil {
		return nil, err
	}
	return s.cards(ctx, "name:", names)
}

// ValuesPerLabel counts the values of every label name (SCARD <p>lv:<label>
// for each of <p>lnames), largest first.
func (s *meter) ValuesPerLabel(ctx context.Context) ([]Count, error) {
	names, err := s.index.LabelNames(ctx)
	if err != nil {
		return nil, err
	}
	return s.cards(ctx, "lv:", names)
}

// cards returns SCARD <p><prefix><name> of each name, largest first (then
// by name).
func (s *meter) cards(ctx context.Context, prefix string, names []string) ([]Count, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.SCard(ctx, s.key(prefix, n))
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("store: sizes of %d %s sets: %w", len(names), prefix, err)
		}
	}
	out := make([]Count, len(names))
	for i, n := range names {
		out[i] = Count{Name: n, Value: cmds[i].Val()}
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}
