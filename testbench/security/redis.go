package security

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// redisLabelValues reads the site and instance label values the
// aggregator stored.
func redisLabelValues(ctx context.Context, addr string) (sites, hosts []string, err error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if sites, err = rdb.SMembers(ctx, RedisPrefix+"lv:site").Result(); err != nil {
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	if hosts, err = rdb.SMembers(ctx, RedisPrefix+"lv:instance").Result(); err != nil {
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	return sites, hosts, nil
}
