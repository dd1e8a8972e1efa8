package aggregator

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/edgepulse/edgepulse/codec"
)

// DefaultClusterPort is the route port when nats.cluster.name is set and
// nats.cluster.port is 0.
const DefaultClusterPort = 6250

// startHub starts the embedded hub nats-server: a single JetStream node, or
// one node of a JetStream cluster when cfg.NATS.Cluster.Name is set.
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
		// As large as the largest frame the codec accepts (the default is
		// 1 MB), and as the leaf's (deploy/leaf.conf): a leaf drops what
		// its hub would refuse.
		MaxPayload: codec.MaxBatchBytes,
		LeafNode: server.LeafNodeOpts{
			Host: cfg.NATS.LeafHost,
			Port: cfg.NATS.LeafPort,
		},
	}
	if opts.HTTPPort != 0 {
		opts.HTTPHost = cfg.NATS.Host
	}
	if cl := cfg.NATS.Cluster; cl.Name != "" {
		opts.Cluster = server.ClusterOpts{Name: cl.Name, Host: cl.Host, Port: cl.Port}
		if opts.Cluster.Host == "" {
			opts.Cluster.Host = cfg.NATS.Host
		}
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = DefaultClusterPort
		}
		for _, r := range cl.Routes {
			u := server.RoutesFromStr(r)
			if len(u) != 1 {
				return nil, nil, fmt.Errorf("hub: nats.cluster.routes: bad URL %q", r)
			}
			opts.Routes = append(opts.Routes, u[0])
		}
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
