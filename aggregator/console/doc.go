// Package console is the aggregator's web console: a single-page app
// (fleet, host, incidents and query pages, embedded with go:embed, no build
// step) served under /ui/, and the WebSocket endpoint /ui/ws that pushes
// to browsers what the aggregator applies — new windows of the hosts a page
// shows, incident transitions — and the live 1 s samples an agent streams
// while someone watches its host (live mode, codec.LiveRequest).
//
// # Types
//
// [Console] is built once per aggregator by New with [Options]; the
// aggregator mounts it on its HTTP mux ([Console.Mount]), calls
// [Console.Applied] after every stored frame, [Console.Expired] after the
// store closed open incidents itself (their close events, no window), and appends
// [Console.WriteMetrics] to /metrics. The hub (hub.go) keeps the
// connected browsers, each with a bounded outbox that drops its oldest
// message when full (counted): a slow browser never slows ingest. The live
// manager (live.go) holds one lease per watched host at the agent and
// renews it while a viewer stays. Notices (notice.go) make the pushes
// fleet-wide in a cluster: Applied also publishes a small notice of the
// frame on NoticeSubject (Expired an incidents-only notice), and every
// member's console, while it has browsers, pushes the other members'
// notices to them. The incident list
// (incidents.go) is its own handler over Options.Incidents.
//
// # Concurrency
//
// Applied and Expired may be called from any goroutine and never block on a browser:
// it only appends to outboxes and publishes (buffered by the NATS client). Every connection has one reader and one
// writer goroutine.
//
// # Security
//
// The page and its assets hold no data and are served to anyone; every
// data request carries the query API's bearer token (kept by the page in
// the browser's session storage), and a WebSocket must send it in its first
// message before anything is pushed. Connections are bounded in total and
// per client address ([Limits]).
//
// # Imports
//
// console may import codec, aggregator/store (types only) and NATS; it
// must not import the aggregator package.
package console
