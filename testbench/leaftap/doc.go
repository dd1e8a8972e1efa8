// Package leaftap meters a NATS leaf-node connection by what it carries:
// it reads the bytes a counting proxy (testbench/proxy, [Meter.Conn] is a
// proxy tap) forwards in each direction, undoes the link's s2 compression
// and parses the leaf protocol, and charges every byte on the wire to the
// protocol operation it carried, classified by a caller's function
// (e.g. by subject: frames, acks, clock, pings).
//
// # How bytes on the wire are charged
//
// A leaf connection starts in the clear (INFO, and CONNECT when the link
// is not compressed). When compression is negotiated each side switches
// to s2 at an operation boundary, and from then on every flush of the
// server's outbound buffer is one s2 stream of its own (nats-server
// resets its s2 writer per flush): a stream identifier chunk and one or
// more data chunks. A data chunk's bytes on the wire — its header, CRC,
// compressed body, plus the stream identifier before it — are charged to
// the operations whose bytes it decompresses to, in proportion to their
// uncompressed bytes. Operations in the clear are charged their own
// bytes. Nothing is estimated: the per-kind wire bytes of a connection
// add up to what the proxy counted (up to bytes still buffered in an
// incomplete chunk, [Counts] per kind and [Meter.Unparsed]).
//
// # Replies
//
// A reply travels on the inbox its request named. The meter remembers the
// reply subject of every message going one way (bounded, per connection)
// and hands the request's kind to the classifier when a message comes
// back the other way on that subject, so a JetStream PubAck is told from
// a clock reply although both go to _INBOX subjects.
//
// # Types
//
// [Meter] collects over any number of connections; [Op] is one parsed
// operation handed to the [Classifier]; [Key] and [Counts] are the result.
//
// # Concurrency
//
// A Meter is safe for concurrent use; each direction of a connection is
// written by one goroutine (the proxy's copy loop), and the two
// directions of a connection share only the reply table, under a lock.
//
// # Imports
//
// leaftap uses the standard library and klauspost/compress/s2 (the
// compression nats-server uses on the link).
package leaftap
