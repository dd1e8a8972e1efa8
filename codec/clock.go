package codec

import (
	"encoding/binary"
	"fmt"
)

// TimePrefix is where an agent asks the aggregators for the hub's time:
// TimeSubject(site, host), answered with EncodeTime of the responder's
// clock (any aggregator of the region answers; a queue group).
const TimePrefix = "ep.time."

// TimeSubject is the time request subject of site/host.
func TimeSubject(site, host string) string { return TimePrefix + site + "." + host }

// EncodeTime is a time reply: Unix nanoseconds, 8 bytes big endian.
func EncodeTime(unixNano int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(unixNano)) }

// DecodeTime reads a time reply.
func DecodeTime(p []byte) (int64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("%w: time reply of %d bytes, want 8", ErrMalformed, len(p))
	}
	return int64(binary.BigEndian.Uint64(p)), nil
}
