package aggregator

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// DefaultClusterPort is the route port when nats.cluster.name is set and
// nats.cluster.port is 0.
const DefaultClusterPort = 6250

// startHub starts the embedded hub nats-server: a single JetStream node, or
// one node of a JetStream cluster when cfg.NATS.Cluster.Name is set.
// The returned options carry the bound ports once it is ready.
// Its log goes to log (hubLogger).
func startHub(cfg Config, log *slog.Logger) (*server.Server, *server.Options, error) {
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
	if t := cfg.NATS.LeafTLS; t.enabled() {
		tc, err := tlsConfig(t)
		if err != nil {
			return nil, nil, fmt.Errorf("hub: nats.leaf_tls: %w", err)
		}
		opts.LeafNode.TLSConfig, opts.LeafNode.TLSTimeout = tc, tlsTimeout(t)
	}
	if t := cfg.NATS.ClusterTLS; t.enabled() && opts.Cluster.Name != "" {
		tc, err := tlsConfig(t)
		if err != nil {
			return nil, nil, fmt.Errorf("hub: nats.cluster_tls: %w", err)
		}
		// A route is client and server at once: trust the CA when dialling
		// too (what nats-server's config parser does for cluster tls).
		tc.RootCAs = tc.ClientCAs
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, tlsTimeout(t)
	}
	if len(cfg.NATS.Sites) > 0 {
		users, _, err := hubUsers(cfg.NATS)
		if err != nil {
			return nil, nil, err
		}
		opts.Users = users
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	setHubLogger(ns, log)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("hub: nats-server not ready after 30s (client %s:%d, leaf %s:%d)",
			opts.Host, opts.Port, opts.LeafNode.Host, opts.LeafNode.Port)
	}
	return ns, opts, nil
}

// tlsConfig loads a TLS block the way nats-server's config file does.
func tlsConfig(t TLSConfig) (*tls.Config, error) {
	return server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: t.verify(),
		Timeout: tlsTimeout(t),
	})
}

func tlsTimeout(t TLSConfig) float64 {
	if t.Timeout == 0 {
		return 5
	}
	return t.Timeout.Seconds()
}

// hubAuth is the in-process connection's credentials: the admin user when
// the hub has users, nothing otherwise.
func hubAuth(opts *server.Options) nats.Option {
	for _, u := range opts.Users {
		if u.Username == AdminUser {
			return nats.UserInfo(u.Username, u.Password)
		}
	}
	return func(*nats.Options) error { return nil }
}
