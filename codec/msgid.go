package codec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MsgIDKeyBytes is the length of an agent's Nats-Msg-Id key.
const MsgIDKeyBytes = 32

// SignedMsgID is the Nats-Msg-Id of a batch with a tag only its agent can
// make: agent/sequence/tag, tag = the first 8 bytes (hex) of
// HMAC-SHA256(key, agent/sequence). The stream's de-duplication is keyed
// by the whole id: a neighbour that can publish into the same stream (its
// own subject) cannot guess a future id of this agent, so it cannot make
// the stream discard this agent's batch as a duplicate. The same key
// gives the same id for a retry, so retries still de-duplicate.
func SignedMsgID(agent string, seq uint64, key []byte) string {
	id := MsgID(agent, seq)
	if len(key) == 0 {
		return id
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	return id + "/" + hex.EncodeToString(m.Sum(nil)[:8])
}

// MsgIDAgent returns the site and host a Nats-Msg-Id names (its first two
// '/'-separated fields), ok false when it has fewer than three fields.
func MsgIDAgent(id string) (site, host string, ok bool) {
	site, rest, ok1 := strings.Cut(id, "/")
	host, _, ok2 := strings.Cut(rest, "/")
	return site, host, ok1 && ok2
}
