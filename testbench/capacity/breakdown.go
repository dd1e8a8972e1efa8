package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// keyClass sums what a sample of one class of keys costs.
type keyClass struct {
	keys, sampled  int64
	bytes, windows int64 // MEMORY USAGE and windows of the sampled keys
	value          int64 // STRLEN of the sampled keys
}

// breakdown samples the store's keys by class (SCAN over every key,
// MEMORY USAGE and the decoded windows of up to maxSample keys per class)
// and prints what each costs: the minute tier's sealed hours and open
// hour, the hourly tier, the index per series. The sizing table in
// docs/redis-schema.md is made from these numbers.
func breakdown(ctx context.Context, rdb *redis.Client, openHour int64, series int64) error {
	const maxSample = 3000
	classes := map[string]*keyClass{}
	order := []string{"minute tier, sealed hours", "minute tier, open hour", "minute tier, open logs", "minute tier, open log indexes", "hourly tier, sealed days", "hourly tier, open day", "index", "other"}
	for _, c := range order {
		classes[c] = &keyClass{}
	}
	openSuffix := ":" + strconv.FormatInt(openHour, 10)
	openDay := ":" + strconv.FormatInt(openHour*store.HourMs/store.DayMs, 10)
	var others []string
	it := rdb.Scan(ctx, 0, "*", 5000).Iterator()
	for it.Next(ctx) {
		k := it.Val()
		var c string
		switch {
		case strings.HasPrefix(k, "ep:o:"):
			c = "minute tier, open logs"
		case strings.HasPrefix(k, "ep:oi:"):
			c = "minute tier, open log indexes"
		case strings.HasPrefix(k, "ep:c:") && strings.HasSuffix(k, openSuffix):
			c = "minute tier, open hour"
		case strings.HasPrefix(k, "ep:c:"):
			c = "minute tier, sealed hours"
		case strings.HasPrefix(k, "ep:hc:") && strings.HasSuffix(k, openDay):
			c = "hourly tier, open day"
		case strings.HasPrefix(k, "ep:hc:"):
			c = "hourly tier, sealed days"
		case k == "ep:series" || k == "ep:seen" || k == "ep:names" || k == "ep:lnames" ||
			strings.HasPrefix(k, "ep:name:") || strings.HasPrefix(k, "ep:pl:") || strings.HasPrefix(k, "ep:lv:"):
			c = "index"
		default:
			c = "other"
			if len(others) < 4 {
				others = append(others, k)
			}
		}
		kc := classes[c]
		kc.keys++
		// Index keys are all measured (few, large); data keys sampled.
		if c != "index" && kc.sampled >= maxSample {
			continue
		}
		kc.sampled++
		mem, err := rdb.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			return fmt.Errorf("MEMORY USAGE %s: %w", k, err)
		}
		kc.bytes += mem
		if c == "index" || c == "other" {
			continue
		}
		v, err := rdb.Get(ctx, k).Bytes()
		if err != nil {
			continue // expired meanwhile
		}
		if c == "minute tier, open log indexes" {
			// 12-byte records; a frame's header (8 bytes 0xff) is not a window.
			for i := 0; i+12 <= len(v); i += 12 {
				if string(v[i:i+8]) != "\xff\xff\xff\xff\xff\xff\xff\xff" {
					kc.windows++
				}
			}
			kc.value += int64(len(v))
			continue
		}
		if c == "minute tier, open logs" {
			bySeries, err := store.DecodeLog(v)
			if err != nil {
				return fmt.Errorf("open log %s: %w", k, err)
			}
			for _, ws := range bySeries {
				kc.windows += int64(len(ws))
			}
			kc.value += int64(len(v))
			continue
		}
		ws, err := codec.DecodeChunkAll(nil, v)
		if err != nil {
			return fmt.Errorf("chunk %s: %w", k, err)
		}
		kc.windows += int64(len(ws))
		kc.value += int64(len(v))
	}
	if err := it.Err(); err != nil {
		return err
	}
	for _, name := range order {
		c := classes[name]
		switch {
		case c.keys == 0:
		case name == "index":
			progress("breakdown: %s: %d keys, %.1f MB, %.0f B per series (%d series)", name, c.keys, float64(c.bytes)/1e6, float64(c.bytes)/float64(series), series)
		case name == "other":
			progress("breakdown: %s: %d keys, %.0f B each (sampled %d; e.g. %s)", name, c.keys, float64(c.bytes)/float64(c.sampled), c.sampled, strings.Join(others, " "))
		default:
			progress("breakdown: %s: %d keys, %.1f windows per key, %.2f B per window in Redis (value %.2f B, key and object overhead the rest; sampled %d keys)",
				name, c.keys, float64(c.windows)/float64(c.sampled), float64(c.bytes)/float64(c.windows), float64(c.value)/float64(c.windows), c.sampled)
		}
	}
	return nil
}
