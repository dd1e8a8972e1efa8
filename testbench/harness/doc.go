// Package harness starts the real processes the testbench drives — Redis,
// nats-server leaf nodes, edgepulse agents and aggregators — on free
// loopback ports, and waits for them by polling, never by sleeping.
//
// # Types
//
// [Proc] is one child process with its log file; [Bins] builds the
// binaries once per test run with the go tool.
//
// # Concurrency
//
// Helpers are called from a test's goroutine; Proc.Stop is idempotent.
package harness
