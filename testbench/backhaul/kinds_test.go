package backhaul

import (
	"testing"

	"github.com/edgepulse/edgepulse/testbench/leaftap"
)

// TestClassify names the kinds of what crosses an Edgepulse uplink.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		op   leaftap.Op
		want string
	}{
		{leaftap.Op{Verb: "HMSG", Subject: "tele.s1.h01", Reply: "_INBOX.a.b"}, kindFrames},
		{leaftap.Op{Verb: "LMSG", Subject: "_INBOX.a.b", RequestKind: kindFrames}, kindAcks},
		{leaftap.Op{Verb: "LMSG", Subject: "ep.time.s1.h01", Reply: "_INBOX.c.d"}, kindClock},
		{leaftap.Op{Verb: "LMSG", Subject: "_INBOX.c.d", RequestKind: kindClock}, kindClock},
		{leaftap.Op{Verb: "HMSG", Subject: "ep.config.kv._all"}, kindConfig},
		{leaftap.Op{Verb: "LMSG", Subject: "ep.agent.s1.h01.keyframe", Reply: "_INBOX.e.f"}, kindKeyframe},
		{leaftap.Op{Verb: "LMSG", Subject: "ep.agent.s1.h01.history"}, kindAgentReq},
		{leaftap.Op{Verb: "LMSG", Subject: "$SRV.PING"}, kindAgentReq},
		{leaftap.Op{Verb: "LS+", Subject: "ep.agent.s1.h01.>"}, kindInterest},
		{leaftap.Op{Verb: "PING"}, kindPings},
		{leaftap.Op{Verb: "INFO"}, kindHandshake},
		{leaftap.Op{Verb: "LMSG", Subject: "alerts.s1.x"}, kindOther},
		{leaftap.Op{Verb: "LMSG", Subject: "_INBOX.zz.1"}, kindOther},
	} {
		if got := classify(tc.op); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.op, got, tc.want)
		}
	}
	var c tapClassifier
	c.classify(leaftap.Op{Verb: "LMSG", Subject: "alerts.s1.x.y"})
	if n := c.names(); len(n) != 1 || n[0] != "alerts.s1.…" {
		t.Fatalf("other subjects %v", n)
	}
}
