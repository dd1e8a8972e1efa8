// Package proxy is a TCP proxy for the testbench that counts the bytes it
// carries in each direction and can cut the link and restore it.
//
// It sits between a site's leaf nats-server and the hub, so backhaul is
// measured on the wire (after s2 compression, with protocol overhead and
// TCP payload of every PING, INFO and heartbeat), which the byte counters
// in /leafz and /varz do not do.
//
// # Types
//
// A [Proxy] listens on one address and forwards every accepted connection
// to one target. [Proxy.Cut] closes every open connection and refuses new
// ones (accepted and closed at once, counted in [Stats].Refused) until
// [Proxy.Restore]. [Stats] holds the counters: Up is client→target
// (leaf→hub), Down is target→client. [Proxy.Tap] hands every forwarded
// chunk to writers of the caller's as well (testbench/leaftap breaks a
// leaf link's bytes down by what they carried).
//
// # Concurrency
//
// All methods are safe for concurrent use. Byte counters are updated as
// data is written to the other side, so a snapshot taken after both ends
// are quiet is exact.
//
// # Imports
//
// proxy uses only the standard library.
package proxy
