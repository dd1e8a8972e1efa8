package aggregator

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// ReasonMsgID is a frame whose Nats-Msg-Id names another agent than its
// subject (a neighbour trying to poison the stream's de-duplication).
const ReasonMsgID = "msg_id"

// forged checks a parsed frame against the identity of the subject it
// arrived on, before its decoder state is touched: the frame must claim
// the subject's site and host, and its Nats-Msg-Id, when it names an
// agent (<site>/<host>/…), must name the subject's. A frame that does not is counted by reason, logged
// and terminated, and forged returns true. On the leaf each agent's user
// may publish only its own subject (deploy/leaf-agents.sh), so the
// subject is the publisher's identity; agents sign their ids
// (codec.SignedMsgID) so a neighbour cannot guess them either.
func (in *ingest) forged(m jetstream.Msg, f *codec.Frame) bool {
	site, host, err := SubjectIdentity(m.Subject())
	if err == nil {
		switch id := m.Headers().Get(jetstream.MsgIDHeader); {
		case f.Site != site:
			err = reject(ReasonSiteMismatch, "frame of site %q arrived on %s", truncate(f.Site), m.Subject())
		case f.Host != host:
			err = reject(ReasonHostMismatch, "frame of host %q arrived on %s", truncate(f.Host), m.Subject())
		case f.Agent != site+"/"+host:
			err = reject(ReasonIdentity, "agent id %q of a frame on %s must be %s/%s", truncate(f.Agent), m.Subject(), site, host)
		case id != "":
			// Agents' ids are <site>/<host>/<seq>[/<tag>]; one of another
			// form collides with none of theirs.
			if s, h, ok := codec.MsgIDAgent(id); ok && (s != site || h != host) {
				err = reject(ReasonMsgID, "Nats-Msg-Id %q of a frame on %s must begin with %s/%s/", truncate(id), m.Subject(), site, host)
			}
		}
	}
	if err == nil {
		return false
	}
	reason := ReasonSubject
	if re := (*RejectError)(nil); errors.As(err, &re) {
		reason = re.Reason
	}
	g := in.guard
	g.mu.Lock()
	g.count[reason]++
	g.mu.Unlock()
	in.log.Warn("rejecting frame whose identity does not match its subject", "subject", m.Subject(), "reason", reason, "err", err)
	m.TermWithReason(truncate(fmt.Sprint(err)))
	return true
}
