package aggregator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgepulse/edgepulse/aggregator/alerting"
	"github.com/edgepulse/edgepulse/aggregator/console"
	"github.com/edgepulse/edgepulse/aggregator/global"
	"github.com/edgepulse/edgepulse/aggregator/preagg"
	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Config is the aggregator's configuration. The zero value of a field
// means its default.
type Config struct {
	// Name of this member (server name, ring member id); default the hostname.
	Name string `yaml:"name"`
	// NATS is the embedded hub server.
	NATS HubConfig `yaml:"nats"`
	// Partitions is the number of stream partitions; default 64.
	Partitions int `yaml:"partitions"`
	// Redis is where rollups are written.
	Redis store.Options `yaml:"redis"`
	// HTTP is the query API's listen address; default 127.0.0.1:9470.
	HTTP string `yaml:"http"`
	// Limits bound each query.
	Limits query.Limits `yaml:"limits"`
	// Alerting evaluates Prometheus rule files over the store and sends
	// alerts (and the agents' incidents) to Alertmanager; see
	// aggregator/alerting. Default: off.
	Alerting alerting.Config `yaml:"alerting"`
	// Auth is the query API's optional bearer token (every /api/ endpoint).
	Auth query.Auth `yaml:"auth"`
	// Console bounds the web console's WebSocket connections (docs/console.md).
	Console console.Limits `yaml:"console"`
	// Batches bound each decoded batch and the series per host and site.
	Batches BatchLimits `yaml:"batches"`
	// StreamMaxAge bounds how long un-consumed batches stay in the stream;
	// default 7 days.
	StreamMaxAge time.Duration `yaml:"stream_max_age"`
	// DedupWindow is the stream's Nats-Msg-Id de-duplication window; default 2 h.
	DedupWindow time.Duration `yaml:"dedup_window"`
	// Replicas of the stream, its partition consumers and the membership
	// bucket; 0 (the default) means min(3, cluster size): 1 on a single
	// node or an external server, min(3, 1+len(nats.cluster.routes)) for an
	// embedded cluster. Range 0–5.
	Replicas int `yaml:"replicas"`
	// AckWait is how long a delivered, un-acknowledged batch waits before
	// it is redelivered (to the partition's owner of the moment); default
	// 10 s, range 1s–5m.
	AckWait time.Duration `yaml:"ack_wait"`
	// Membership is the ring membership through the KV bucket.
	Membership MembershipConfig `yaml:"membership"`
	// RedisUnreadyAfter is how long Redis writes (or the readiness probe's
	// PING and write) must keep failing before /readyz answers 503, so a
	// blip does not take every member out of the service at once; default
	// 30 s, range 1s–1h. /healthz (liveness) never depends on Redis.
	RedisUnreadyAfter time.Duration `yaml:"redis_unready_after"`
	// Clock bounds the skew between a window's end and the hub's clock
	// before the window is counted and logged (clock.go).
	Clock ClockConfig `yaml:"clock"`
	// Regions are the other regions' query APIs the /global/api/v1/
	// endpoints fan out to (aggregator/global, docs/regions.md). Default: none.
	Regions global.Config `yaml:"regions"`
	// Preagg are aggregation rules computed as frames are applied
	// (aggregator/preagg, docs/regions.md). Default: none.
	Preagg preagg.Config `yaml:"preagg"`
}

// MembershipConfig configures the heartbeats in the membership KV bucket.
type MembershipConfig struct {
	// Bucket is the KV bucket; default EP_MEMBERS.
	Bucket string `yaml:"bucket"`
	// Heartbeat is how often a member refreshes its key; default 2 s,
	// range 100ms–1m.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// TTL is how long a key lives after its last heartbeat (the bucket's
	// max age): a member silent for TTL loses its partitions. Default 10 s;
	// it must be at least 2 heartbeats and at most 10m.
	TTL time.Duration `yaml:"ttl"`
}

// ClusterConfig joins the embedded servers of several aggregators into one
// JetStream cluster (Raft). An empty Name means a single node.
type ClusterConfig struct {
	Name   string   `yaml:"name"`   // cluster name, the same on every member
	Host   string   `yaml:"host"`   // route listen host; default nats.host
	Port   int      `yaml:"port"`   // route listen port; default 6250 when name is set
	Routes []string `yaml:"routes"` // peers' route URLs, nats-route://host:port
}

// HubConfig configures the embedded nats-server.
type HubConfig struct {
	Host     string `yaml:"host"`      // client listen host; default 127.0.0.1
	Port     int    `yaml:"port"`      // client port; default 4250 (-1: random, for tests)
	LeafHost string `yaml:"leaf_host"` // leaf-node listen host; default 127.0.0.1
	LeafPort int    `yaml:"leaf_port"` // leaf-node port; default 7422 (-1: random)
	HTTPPort int    `yaml:"http_port"` // monitoring port (/varz, /leafz); default 0 = off
	StoreDir string `yaml:"store_dir"` // JetStream store; default /var/lib/edgepulse-aggregator/jetstream
	// URL of an existing NATS (JetStream) cluster to join instead of
	// embedding a server; when set, every other field here is ignored.
	URL string `yaml:"url"`
	// Cluster forms a JetStream cluster with other aggregators' hubs.
	Cluster ClusterConfig `yaml:"cluster"`
	// LeafTLS turns on TLS for the leaf-node listener; with verify, leaves
	// must present a certificate signed by ca_file (mutual TLS).
	LeafTLS TLSConfig `yaml:"leaf_tls"`
	// ClusterTLS turns on mutual TLS between the hub nodes' routes.
	ClusterTLS TLSConfig `yaml:"cluster_tls"`
	// Sites turns on authentication: one leaf-only user per site, with
	// SitePermissions. Without sites the hub accepts anyone (demo, tests).
	Sites []SiteAuth `yaml:"sites"`
	// SitePermissions is the per-site permission template ({site} is
	// replaced); empty means DefaultSitePermissions.
	SitePermissions PermissionTemplate `yaml:"site_permissions"`
	// AdminPassword is the password of the hub user "aggregator" (every
	// permission) when sites are set, for operators and other tools;
	// empty means a random one only this process knows. Or AdminPasswordFile.
	AdminPassword     string `yaml:"admin_password"`
	AdminPasswordFile string `yaml:"admin_password_file"`
}

// TLSConfig names PEM files; an empty CertFile means no TLS.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	CAFile   string `yaml:"ca_file"` // verifies the peers' certificates
	// Verify requires peers to present a certificate signed by CAFile;
	// default true whenever CAFile is set (see verify).
	Verify *bool `yaml:"verify"`
	// Timeout of the TLS handshake; default 5 s.
	Timeout time.Duration `yaml:"timeout"`
}

// enabled reports whether TLS is configured.
func (t TLSConfig) enabled() bool { return t.CertFile != "" }

func (t TLSConfig) verify() bool {
	if t.Verify != nil {
		return *t.Verify
	}
	return t.CAFile != ""
}

func (t TLSConfig) validate(field string) error {
	if !t.enabled() {
		if t.KeyFile != "" || t.CAFile != "" {
			return fmt.Errorf("config: %s.cert_file must be set with key_file and ca_file", field)
		}
		return nil
	}
	if t.KeyFile == "" {
		return fmt.Errorf("config: %s.key_file must be set with cert_file", field)
	}
	if t.verify() && t.CAFile == "" {
		return fmt.Errorf("config: %s.verify needs ca_file", field)
	}
	if t.Timeout < 0 || t.Timeout > time.Minute {
		return fmt.Errorf("config: %s.timeout %v must be between 0 (5s) and 1m", field, t.Timeout)
	}
	return nil
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name: host,
		NATS: HubConfig{
			Host: "127.0.0.1", Port: 4250, LeafHost: "127.0.0.1", LeafPort: 7422,
			StoreDir: "/var/lib/edgepulse-aggregator/jetstream",
		},
		Partitions: 64,
		Redis: store.Options{Addr: "127.0.0.1:6379", Prefix: "ep:", Retention: 15 * 24 * time.Hour,
			MemoryWarnFraction: store.DefaultMemoryWarnFraction},
		HTTP:              "127.0.0.1:9470",
		StreamMaxAge:      7 * 24 * time.Hour,
		DedupWindow:       2 * time.Hour,
		AckWait:           10 * time.Second,
		Membership:        MembershipConfig{Bucket: "EP_MEMBERS", Heartbeat: 2 * time.Second, TTL: 10 * time.Second},
		RedisUnreadyAfter: 30 * time.Second,
	}
}

// LoadConfig reads a YAML file over the defaults and validates it.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return c, c.Validate()
}

// replicas returns the effective replica count.
func (c Config) replicas() int {
	switch {
	case c.Replicas > 0:
		return c.Replicas
	case c.NATS.URL == "" && c.NATS.Cluster.Name != "":
		return min(3, 1+len(c.NATS.Cluster.Routes))
	default:
		return 1
	}
}

// validKey matches what a KV key and a server name may hold.
var validKey = regexp.MustCompile(`^[-_=a-zA-Z0-9]+(\.[-_=a-zA-Z0-9]+)*$`)

// Validate names the first bad field and its allowed range.
func (c Config) Validate() error {
	if err := c.Alerting.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch {
	case c.Name == "":
		return errors.New("config: name must be set")
	case !validKey.MatchString(c.Name):
		return fmt.Errorf("config: name %q may hold only letters, digits, '-', '_', '=' and inner dots", c.Name)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("config: replicas %d must be between 0 (auto) and 5", c.Replicas)
	case c.AckWait < time.Second || c.AckWait > 5*time.Minute:
		return fmt.Errorf("config: ack_wait %v must be between 1s and 5m", c.AckWait)
	case c.RedisUnreadyAfter < time.Second || c.RedisUnreadyAfter > time.Hour:
		return fmt.Errorf("config: redis_unready_after %v must be between 1s and 1h", c.RedisUnreadyAfter)
	case c.Membership.Bucket == "" || !validKey.MatchString(c.Membership.Bucket) || strings.Contains(c.Membership.Bucket, "."):
		return fmt.Errorf("config: membership.bucket %q must be set and hold only letters, digits, '-' and '_'", c.Membership.Bucket)
	case c.Membership.Heartbeat < 100*time.Millisecond || c.Membership.Heartbeat > time.Minute:
		return fmt.Errorf("config: membership.heartbeat %v must be between 100ms and 1m", c.Membership.Heartbeat)
	case c.Membership.TTL < 2*c.Membership.Heartbeat || c.Membership.TTL > 10*time.Minute:
		return fmt.Errorf("config: membership.ttl %v must be between 2×heartbeat (%v) and 10m", c.Membership.TTL, 2*c.Membership.Heartbeat)
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("config: partitions %d must be between 1 and 1024", c.Partitions)
	case c.StreamMaxAge < time.Minute:
		return fmt.Errorf("config: stream_max_age %v must be ≥ 1m", c.StreamMaxAge)
	case c.DedupWindow < time.Second || c.DedupWindow > c.StreamMaxAge:
		return fmt.Errorf("config: dedup_window %v must be between 1s and stream_max_age %v", c.DedupWindow, c.StreamMaxAge)
	case c.NATS.URL != "":
		// an external server: the embedded hub's fields are unused
	case c.NATS.Port < -1 || c.NATS.Port > 65535:
		return fmt.Errorf("config: nats.port %d must be -1 (random) or 0–65535", c.NATS.Port)
	case c.NATS.LeafPort < -1 || c.NATS.LeafPort > 65535:
		return fmt.Errorf("config: nats.leaf_port %d must be -1 (random) or 0–65535", c.NATS.LeafPort)
	case c.NATS.StoreDir == "":
		return errors.New("config: nats.store_dir must be set")
	case c.NATS.Cluster.Name != "" && (c.NATS.Cluster.Port < -1 || c.NATS.Cluster.Port > 65535):
		return fmt.Errorf("config: nats.cluster.port %d must be -1 (random), 0 (6250) or 1–65535", c.NATS.Cluster.Port)
	case c.NATS.Cluster.Name == "" && len(c.NATS.Cluster.Routes) > 0:
		return errors.New("config: nats.cluster.routes need nats.cluster.name")
	}
	if c.NATS.URL == "" {
		if err := c.NATS.LeafTLS.validate("nats.leaf_tls"); err != nil {
			return err
		}
		if err := c.NATS.ClusterTLS.validate("nats.cluster_tls"); err != nil {
			return err
		}
		if err := c.NATS.validateSites(); err != nil {
			return err
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return fmt.Errorf("config: http %q must be host:port: %w", c.HTTP, err)
	}
	if err := c.Console.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if err := c.Batches.Validate(); err != nil {
		return err
	}
	if err := c.Clock.Validate(); err != nil {
		return err
	}
	if err := c.Regions.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Preagg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for i, r := range c.Preagg.Rules {
		if slices.Contains(r.By, "region") && c.Regions.Name == "" {
			return fmt.Errorf("config: preagg.rules[%d].by: grouping by region needs regions.name", i)
		}
	}
	return c.Redis.Validate()
}
