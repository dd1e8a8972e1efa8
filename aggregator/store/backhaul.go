package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// backhaulTTL keeps the per-minute backhaul counters for two days.
const backhaulTTL = 48 * time.Hour

// Backhaul is one site's frame traffic over some whole minutes.
type Backhaul struct {
	Site    string `json:"site"`
	Minutes int    `json:"minutes"` // the span asked for
	// Reporting is how many of those minutes had any host reporting: a
	// site that started (or came back) 2 minutes ago has 2.
	Reporting int   `json:"minutes_reporting"`
	Bytes     int64 `json:"bytes"`  // frame bytes applied
	Frames    int64 `json:"frames"` // frames applied
	// Hosts is the mean number of hosts reporting per minute, over the
	// minutes with any (over all Minutes a site that started a minute ago
	// showed a fraction of a host: 0.1, 0.2, …).
	Hosts float64 `json:"hosts"`
	// BytesPerHostMinute is Bytes / host-minutes: the payload one host
	// costs the uplink per minute (protocol overhead not included).
	BytesPerHostMinute float64 `json:"bytes_per_host_minute"`
}

// Backhauls returns every site's traffic over the minutes whole minutes
// before now.
func (s *meter) Backhauls(ctx context.Context, minutes int, now time.Time) ([]Backhaul, error) {
	sites, err := s.rdb.SMembers(ctx, s.key("bhsites")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: backhaul sites: %w", err)
	}
	last := now.Unix()/60 - 1
	out := make([]Backhaul, 0, len(sites))
	for _, site := range sites {
		pipe := s.rdb.Pipeline()
		hs := make([]*redis.MapStringStringCmd, minutes)
		ns := make([]*redis.IntCmd, minutes)
		for i := range minutes {
			m := strconv.FormatInt(last-int64(i), 10)
			hs[i] = pipe.HGetAll(ctx, s.key("bh:", site, ":", m))
			ns[i] = pipe.PFCount(ctx, s.key("bhh:", site, ":", m))
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, fmt.Errorf("store: backhaul of %s: %w", site, err)
		}
		b := Backhaul{Site: site, Minutes: minutes}
		var hostMinutes int64
		for i := range minutes {
			v := hs[i].Val()
			n, _ := strconv.ParseInt(v["bytes"], 10, 64)
			f, _ := strconv.ParseInt(v["frames"], 10, 64)
			b.Bytes += n
			b.Frames += f
			hostMinutes += ns[i].Val()
			if ns[i].Val() > 0 {
				b.Reporting++
			}
		}
		if b.Reporting > 0 {
			b.Hosts = float64(hostMinutes) / float64(b.Reporting)
		}
		if hostMinutes > 0 {
			b.BytesPerHostMinute = float64(b.Bytes) / float64(hostMinutes)
		}
		out = append(out, b)
	}
	return out, nil
}
