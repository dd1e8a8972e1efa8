package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// IncidentLog reads the stored incidents; *store.Store implements it.
// Safe for concurrent use.
type IncidentLog interface {
	OpenIncidents(ctx context.Context) ([]store.Incident, error)
	RecentIncidents(ctx context.Context, since, until time.Time, limit int) ([]store.Incident, int, error)
}

// Options wire a Console to its aggregator.
type Options struct {
	// NC is the aggregator's hub connection: live-mode requests go to the
	// agents through it and their frames come back on it.
	NC *nats.Conn
	// Token is the query API's bearer token ("" when the API is open).
	Token string
	// Guard wraps the console's data endpoints with the query API's
	// guard (token, limits, counters); nil serves them unguarded.
	Guard func(http.Handler) http.Handler
	// Incidents reads the incident log for the incidents page.
	Incidents IncidentLog
	// Name identifies this aggregator in live-mode leases.
	Name   string
	Limits Limits
	Log    *slog.Logger
}

// Limits bound the console's connections; the zero value means defaults.
type Limits struct {
	// MaxConns bounds the WebSocket connections (default 256).
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerClient bounds them per client address (default 16).
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// Outbox is the messages waiting per connection; past it the oldest
	// is dropped and counted (default 512).
	Outbox int `yaml:"outbox"`
	// MaxLiveHosts bounds the hosts streaming live at once (default 32).
	MaxLiveHosts int `yaml:"max_live_hosts"`
}

// Defaults and per-connection bounds.
const (
	defaultMaxConns          = 256
	defaultMaxConnsPerClient = 16
	defaultOutbox            = 512
	defaultMaxLiveHosts      = 32
	maxHostsPerConn          = 64 // host subscriptions of one connection
	maxLivePerConn           = 4  // hosts one connection watches live
	maxNamesPerHost          = 32 // series names of one host subscription
	maxClientMessage         = 16 << 10
	authTimeout              = 10 * time.Second
	writeTimeout             = 10 * time.Second
)

func (l *Limits) defaults() {
	if l.MaxConns == 0 {
		l.MaxConns = defaultMaxConns
	}
	if l.MaxConnsPerClient == 0 {
		l.MaxConnsPerClient = defaultMaxConnsPerClient
	}
	if l.Outbox == 0 {
		l.Outbox = defaultOutbox
	}
	if l.MaxLiveHosts == 0 {
		l.MaxLiveHosts = defaultMaxLiveHosts
	}
}

// Validate names the first limit out of range (zero means the default).
func (l Limits) Validate() error {
	switch {
	case l.MaxConns < 0 || l.MaxConns > 100_000:
		return fmt.Errorf("console: max_conns %d must be between 0 (default %d) and 100000", l.MaxConns, defaultMaxConns)
	case l.MaxConnsPerClient < 0 || l.MaxConnsPerClient > 10_000:
		return fmt.Errorf("console: max_conns_per_client %d must be between 0 (default %d) and 10000", l.MaxConnsPerClient, defaultMaxConnsPerClient)
	case l.Outbox < 0 || l.Outbox > 1_000_000:
		return fmt.Errorf("console: outbox %d must be between 0 (default %d) and 1000000", l.Outbox, defaultOutbox)
	case l.MaxLiveHosts < 0 || l.MaxLiveHosts > 10_000:
		return fmt.Errorf("console: max_live_hosts %d must be between 0 (default %d) and 10000", l.MaxLiveHosts, defaultMaxLiveHosts)
	}
	return nil
}
