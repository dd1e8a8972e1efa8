package aggregator

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startHub starts the embedded hub nats-server.
// The returned options carry the bound ports once it is ready.
func startHub(cfg Config) (*server.Server, *server.Options, error) {
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.NATS.Host,
		Port:       cfg.NATS.Port,
		HTTPPort:   cfg.NATS.HTTPPort,
		JetStream:  true,
		StoreDir:   cfg.NATS.StoreDir,
		NoSigs:     true,
		LeafNode: server.LeafNodeOpts{
			Host: cfg.NATS.LeafHost,
			Port: cfg.NATS.LeafPort,
		},
	}
	if opts.HTTPPort != 0 {
		opts.HTTPHost = cfg.NATS.Host
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("hub: nats-server not ready after 30s (client %s:%d, leaf %s:%d)",
			opts.Host, opts.Port, opts.LeafNode.Host, opts.LeafNode.Port)
	}
	return ns, opts, nil
}
