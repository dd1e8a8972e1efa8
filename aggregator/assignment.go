package aggregator

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/ring"
)

// AssignmentKey is the membership bucket key that holds the agreed
// partition assignment. Member names cannot contain '/' (config.validKey),
// so it never names a member.
const AssignmentKey = "ring/assignment"

// assignment is the value under AssignmentKey: which member consumes each
// partition, for which member set. Members agree on it through the
// bucket's Raft group: a member whose view of the live members differs
// from Members writes the ring.Rebalance of it with a compare-and-set on
// the key's revision, and every member consumes what the stored value
// gives it.
type assignment struct {
	Epoch      uint64    `json:"epoch"`      // incremented by every write
	Partitions int       `json:"partitions"` // P
	Members    []string  `json:"members"`    // sorted
	Owners     []string  `json:"owners"`     // partition → member
	By         string    `json:"by"`         // the member that wrote it
	At         time.Time `json:"at"`

	ring *ring.Ring // built from Members and Owners, checked
}

// parseAssignment decodes a stored assignment and checks it against the
// partition count: one owner per partition, every owner a member, members
// sorted and distinct.
func parseAssignment(data []byte, partitions int) (*assignment, error) {
	var as assignment
	if err := json.Unmarshal(data, &as); err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	if as.Partitions != partitions {
		return nil, fmt.Errorf("assignment: %d partitions, configured %d", as.Partitions, partitions)
	}
	if !slices.IsSorted(as.Members) {
		return nil, fmt.Errorf("assignment: members %v not sorted", as.Members)
	}
	ms := make([]ring.Member, len(as.Members))
	for i, m := range as.Members {
		ms[i] = ring.Member{ID: m}
	}
	r, err := ring.FromAssignment(ring.Options{Partitions: partitions}, ms, as.Owners)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	as.ring = r
	return &as, nil
}

// isCASConflict reports whether a write failed because the key's revision
// was not the expected one (10071, or 10164 on replicated streams).
func isCASConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
