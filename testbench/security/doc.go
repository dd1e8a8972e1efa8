// Package security is the end-to-end security testbench behind
// `make security`: an edgepulse-aggregator whose embedded hub requires
// mutual TLS and per-site users on its leaf port, real stock nats-server
// site leaves with real credentials, and checks that
//
//   - a site cannot write as another site, nor an agent as another host
//     (hub permissions, leaf permissions, and the aggregator's
//     validateBatch against the subject), and nothing of it lands in the
//     stream or Redis ([CrossSite]);
//   - leaves that are plaintext, present no certificate or one of another
//     CA are refused ([TLS]);
//   - every decoder's fuzz target runs without a crash ([Fuzz], driven by
//     cmd/edgepulse-security with a total fuzzing time).
//
// The certificates are made in Go ([MakePKI]); no openssl is needed.
// TestCrossSiteAndTLS is the quick subset `go test ./...` runs.
//
// # Concurrency
//
// Env and the checks are used from one goroutine.
package security
