package store

import (
	"strconv"
	"strings"
)

// The key builders of the schema in doc.go; every component reaches them
// through its *conn.

// key is the prefix followed by parts.
func (c *conn) key(parts ...string) string { return c.opts.Prefix + strings.Join(parts, "") }

// tag is the hash tag of an agent's keys: every key of one agent (its
// chunks, decoder state, applied seqs) lands in one Redis Cluster slot,
// so one script writes a frame atomically.
func tag(agent string) string { return "{" + agent + "}" }

// chunkKey is the minute tier's key of a series' hour block.
func (c *conn) chunkKey(tag, sid string, hour int64) string {
	return c.key("c:", tag, sid, ":", strconv.FormatInt(hour/HourMs, 10))
}

// hourlyKey is the hourly tier's key of a series' day block.
func (c *conn) hourlyKey(tag, sid string, day int64) string {
	return c.key("hc:", tag, sid, ":", strconv.FormatInt(day/DayMs, 10))
}

// logKey is the open log of an agent's hour.
func (c *conn) logKey(tag string, hour int64) string {
	return c.key("o:", tag, ":", strconv.FormatInt(hour/HourMs, 10))
}

// logIndexKey is the index of the open log of an agent's hour.
func (c *conn) logIndexKey(tag string, hour int64) string {
	return c.key("oi:", tag, ":", strconv.FormatInt(hour/HourMs, 10))
}

// windowCountKey is the key of the counter of windows written whose start
// falls in hour (Unix ms / HourMs): <p>wc:<hour>.
func (c *conn) windowCountKey(hour int64) string {
	return c.key("wc:", strconv.FormatInt(hour, 10))
}

// postingKey is the key of the postings of label=value.
func (c *conn) postingKey(label, value string) string {
	if label == MetricName {
		return c.key("name:", value)
	}
	return c.key("pl:", label, "=", value)
}
