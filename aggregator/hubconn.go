package aggregator

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// hub is this member's NATS: the embedded hub server (nil with nats.url),
// the connection to it and its JetStream context. Everything else gets
// the connection or the JetStream context from here, never the server.
type hub struct {
	ns     *server.Server  // nil with an external server (nats.url)
	nsOpts *server.Options // the embedded server's bound ports
	nc     *nats.Conn
	js     jetstream.JetStream
	url    string // nats.url with an external server
}

// connectHub starts the embedded hub (or dials nats.url) and connects to it.
func connectHub(cfg Config, log *slog.Logger) (*hub, error) {
	h := &hub{url: cfg.NATS.URL}
	var err error
	if cfg.NATS.URL != "" {
		h.nc, err = nats.Connect(cfg.NATS.URL, nats.Name("edgepulse-aggregator "+cfg.Name), nats.MaxReconnects(-1))
	} else {
		if h.ns, h.nsOpts, err = startHub(cfg, log); err != nil {
			return nil, err
		}
		h.nc, err = nats.Connect("", nats.InProcessServer(h.ns), nats.Name("edgepulse-aggregator "+cfg.Name), hubAuth(h.nsOpts))
	}
	if err != nil {
		h.close()
		return nil, fmt.Errorf("aggregator: connect to the hub: %w", err)
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// clientURL is the hub's client URL (nats.url with an external server).
func (h *hub) clientURL() string {
	if h.ns == nil {
		return h.url
	}
	return h.ns.ClientURL()
}

// leafURL is the hub's leaf-node URL, "" with an external server.
func (h *hub) leafURL() string {
	if h.nsOpts == nil {
		return ""
	}
	return fmt.Sprintf("nats-leaf://%s", net.JoinHostPort(h.nsOpts.LeafNode.Host, fmt.Sprint(h.nsOpts.LeafNode.Port)))
}

// live reports whether the process should keep running: its embedded hub
// runs with JetStream and its NATS connection is not closed for good (a
// connection reconnecting to an external NATS recovers on its own).
func (h *hub) live() error {
	if h.ns != nil && (!h.ns.Running() || !h.ns.JetStreamEnabled()) {
		return fmt.Errorf("nats: embedded hub not running with JetStream")
	}
	if h.nc.IsClosed() {
		return fmt.Errorf("nats: connection closed")
	}
	return nil
}

// ready is live and connected now.
func (h *hub) ready() error {
	if err := h.live(); err != nil {
		return err
	}
	if st := h.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats: %s", st)
	}
	return nil
}

// close closes the connection and shuts the embedded server down.
func (h *hub) close() {
	if h.nc != nil {
		h.nc.Close()
	}
	if h.ns != nil {
		h.ns.Shutdown()
		h.ns.WaitForShutdown()
	}
}
