package aggregator

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad name", func(c *Config) { c.Name = "a b" }, "config: name"},
		{"replicas", func(c *Config) { c.Replicas = 6 }, "replicas 6"},
		{"ack wait", func(c *Config) { c.AckWait = 0 }, "ack_wait"},
		{"redis unready after zero", func(c *Config) { c.RedisUnreadyAfter = 0 }, "redis_unready_after 0s must be between 1s and 1h"},
		{"redis unready after long", func(c *Config) { c.RedisUnreadyAfter = 2 * time.Hour }, "redis_unready_after"},
		{"redis unready after 1s", func(c *Config) { c.RedisUnreadyAfter = time.Second }, ""},
		{"memory warn fraction above 1", func(c *Config) { c.Redis.MemoryWarnFraction = 1.5 }, "memory_warn_fraction 1.5 must be in (0, 1]"},
		{"memory warn fraction negative", func(c *Config) { c.Redis.MemoryWarnFraction = -0.1 }, "memory_warn_fraction"},
		{"memory warn fraction 1", func(c *Config) { c.Redis.MemoryWarnFraction = 1 }, ""},
		{"memory warn fraction 0 is the default", func(c *Config) { c.Redis.MemoryWarnFraction = 0 }, ""},
		{"incident log retention below 1h", func(c *Config) { c.Redis.IncidentLogRetention = time.Minute }, "incident_log_retention 1m0s must be at least 1h"},
		{"incident log max small", func(c *Config) { c.Redis.IncidentLogMax = 10 }, "incident_log_max 10 must be between 100 and 10000000"},
		{"incident log max 100", func(c *Config) { c.Redis.IncidentLogMax = 100 }, ""},
		{"incident open max age below 1h", func(c *Config) { c.Redis.IncidentOpenMaxAge = time.Minute }, "incident_open_max_age 1m0s must be between 1h and 8760h"},
		{"incident open max age above a year", func(c *Config) { c.Redis.IncidentOpenMaxAge = 9000 * time.Hour }, "incident_open_max_age 9000h0m0s must be between 1h and 8760h"},
		{"incident open max age negative", func(c *Config) { c.Redis.IncidentOpenMaxAge = -time.Hour }, "incident_open_max_age"},
		{"incident open max age 1h", func(c *Config) { c.Redis.IncidentOpenMaxAge = time.Hour }, ""},
		{"incident open max small", func(c *Config) { c.Redis.IncidentOpenMax = 10 }, "incident_open_max 10 must be between 100 and 1000000"},
		{"incident open max large", func(c *Config) { c.Redis.IncidentOpenMax = 2_000_000 }, "incident_open_max 2000000 must be between 100 and 1000000"},
		{"incident open max 100", func(c *Config) { c.Redis.IncidentOpenMax = 100 }, ""},
		{"bucket", func(c *Config) { c.Membership.Bucket = "a.b" }, "membership.bucket"},
		{"heartbeat", func(c *Config) { c.Membership.Heartbeat = time.Millisecond }, "membership.heartbeat"},
		{"ttl below 2 heartbeats", func(c *Config) { c.Membership.TTL = 3 * time.Second }, "membership.ttl"},
		{"routes without cluster", func(c *Config) { c.NATS.Cluster.Routes = []string{"nats-route://x:6250"} }, "nats.cluster.routes"},
		{"cluster port", func(c *Config) { c.NATS.Cluster = ClusterConfig{Name: "c", Port: 70000} }, "nats.cluster.port"},
		{"external url skips hub fields", func(c *Config) { c.NATS.URL = "nats://x:4222"; c.NATS.StoreDir = "" }, ""},
		{"external url still checks partitions", func(c *Config) { c.NATS.URL = "nats://x:4222"; c.Partitions = 0 }, "partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Name = "agg-1"
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want int
	}{
		{"single node", func(*Config) {}, 1},
		{"two nodes", func(c *Config) { c.NATS.Cluster = ClusterConfig{Name: "c", Routes: []string{"a"}} }, 2},
		{"five nodes", func(c *Config) { c.NATS.Cluster = ClusterConfig{Name: "c", Routes: []string{"a", "b", "c", "d"}} }, 3},
		{"external", func(c *Config) { c.NATS.URL = "nats://x" }, 1},
		{"explicit", func(c *Config) { c.NATS.URL = "nats://x"; c.Replicas = 3 }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			if got := c.replicas(); got != tc.want {
				t.Fatalf("replicas() = %d, want %d", got, tc.want)
			}
		})
	}
}
