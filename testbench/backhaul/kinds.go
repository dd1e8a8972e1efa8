package backhaul

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/leaftap"
)

// The kinds the uplink's bytes are broken down into (testbench/leaftap
// charges every byte on the wire, after s2, to the operation it carried).
const (
	kindFrames    = "frames"    // tele.<site>.<host>: the windows (header, reply subject, body)
	kindAcks      = "acks"      // JetStream PubAcks of the frames, back to the agents
	kindClock     = "clock"     // ep.time.> requests and their replies
	kindConfig    = "config"    // ep.config.> announcements, requests and replies
	kindKeyframe  = "keyframe"  // ep.agent.*.*.keyframe asks and their replies
	kindAgentReq  = "agent req" // other ep.agent.> and $SRV.> requests, replies
	kindInterest  = "interest"  // LS+/LS-: subscriptions propagated over the link
	kindPings     = "pings"     // PING/PONG between leaf and hub
	kindHandshake = "handshake" // INFO, CONNECT, +OK, -ERR
	kindOther     = "other"     // anything else (the breakdown names its subjects)
)

var kindOrder = []string{kindFrames, kindAcks, kindClock, kindConfig, kindKeyframe, kindAgentReq, kindInterest, kindPings, kindHandshake, kindOther}

// classify names a leaf operation's kind.
func classify(op leaftap.Op) string {
	switch op.RequestKind {
	case "":
	case kindFrames:
		return kindAcks
	default:
		return op.RequestKind
	}
	switch op.Verb {
	case "PING", "PONG":
		return kindPings
	case "INFO", "CONNECT", "+OK", "-ERR":
		return kindHandshake
	case "LS+", "LS-":
		return kindInterest
	}
	s := op.Subject
	switch {
	case strings.HasPrefix(s, "tele."):
		return kindFrames
	case strings.HasPrefix(s, codec.TimePrefix):
		return kindClock
	case strings.HasPrefix(s, "ep.config."):
		return kindConfig
	case strings.HasPrefix(s, "ep.agent.") && strings.HasSuffix(s, "."+codec.EndpointKeyframe):
		return kindKeyframe
	case strings.HasPrefix(s, "ep.agent.") || strings.HasPrefix(s, "$SRV."):
		return kindAgentReq
	}
	return kindOther
}

// Breakdown is the uplink's bytes in the measured interval by kind and
// direction, summed over the sites.
type Breakdown map[leaftap.Key]leaftap.Counts

// Wire is the bytes on the wire of kind in both directions.
func (b Breakdown) Wire(kind string) float64 {
	return b[leaftap.Key{Kind: kind, Up: true}].Wire + b[leaftap.Key{Kind: kind}].Wire
}

// kinds lists the kinds present in kindOrder's order.
func (b Breakdown) kinds() []string {
	var out []string
	for _, k := range kindOrder {
		if _, up := b[leaftap.Key{Kind: k, Up: true}]; up {
			out = append(out, k)
		} else if _, dn := b[leaftap.Key{Kind: k}]; dn {
			out = append(out, k)
		}
	}
	return out
}

// printBreakdown writes the per-kind table, bytes per host-minute; sites
// holds the per-site breakdowns when there is more than one variant.
func (r *Result) printBreakdown(w io.Writer) {
	fmt.Fprintf(w, "edgepulse uplink by kind, bytes per host-minute on the wire (after s2, framing charged to what it carried;\n")
	fmt.Fprintf(w, "plain = protocol bytes before compression; ops = operations per host-minute):\n")
	fmt.Fprintf(w, "  %-10s %9s %9s %9s %9s %9s %8s %8s\n", "kind", "wire", "up", "down", "plain up", "plain dn", "ops up", "ops dn")
	var total, up, down float64
	for _, k := range r.Breakdown.kinds() {
		u, d := r.Breakdown[leaftap.Key{Kind: k, Up: true}], r.Breakdown[leaftap.Key{Kind: k}]
		fmt.Fprintf(w, "  %-10s %9.1f %9.1f %9.1f %9.1f %9.1f %8.2f %8.2f\n", k, r.perHostMinute(u.Wire+d.Wire), r.perHostMinute(u.Wire), r.perHostMinute(d.Wire),
			r.PerHostMinute(u.Plain), r.PerHostMinute(d.Plain), r.PerHostMinute(u.Ops), r.PerHostMinute(d.Ops))
		total, up, down = total+u.Wire+d.Wire, up+u.Wire, down+d.Wire
	}
	fmt.Fprintf(w, "  %-10s %9.1f %9.1f %9.1f   (proxy counted %.1f up, %.1f down; %d B unparsed)\n", "total", r.perHostMinute(total), r.perHostMinute(up), r.perHostMinute(down),
		r.PerHostMinute(r.Edgepulse.Up), r.PerHostMinute(r.Edgepulse.Down), r.TapUnparsed)
	if len(r.OtherSubjects) > 0 {
		fmt.Fprintf(w, "  other subjects: %s\n", strings.Join(r.OtherSubjects, ", "))
	}
	if len(r.SiteBreakdown) > 1 {
		fmt.Fprintf(w, "\nby site (hosts of a site share its leaf link; a variant per site compares agent configs in the same run):\n")
		fmt.Fprintf(w, "  %-4s %9s", "site", "wire")
		for _, k := range kindOrder {
			fmt.Fprintf(w, " %9s", k)
		}
		fmt.Fprintf(w, "  agent config\n")
		for i, b := range r.SiteBreakdown {
			var t float64
			for _, c := range b {
				t += c.Wire
			}
			hm := r.HostMinutes / float64(len(r.SiteBreakdown))
			fmt.Fprintf(w, "  s%-3d %9.1f", i+1, t/hm)
			for _, k := range kindOrder {
				fmt.Fprintf(w, " %9.1f", b.Wire(k)/hm)
			}
			bin := ""
			if i < len(r.SiteAgentBin) && r.SiteAgentBin[i] != "" {
				bin = " agent " + r.SiteAgentBin[i]
			}
			fmt.Fprintf(w, "  %q%s\n", r.siteYAML(i), bin)
		}
	}
	fmt.Fprintln(w)
}

func (r *Result) perHostMinute(b float64) float64 {
	if r.HostMinutes == 0 {
		return 0
	}
	return b / r.HostMinutes
}

// breakdownKeys is the RESULT line's per-kind part: both directions, bytes
// per host-minute, every kind in kindOrder.
func (r *Result) breakdownKeys() string {
	var parts []string
	for _, k := range kindOrder {
		parts = append(parts, fmt.Sprintf("%s=%.0f", strings.ReplaceAll(k, " ", "_"), r.perHostMinute(r.Breakdown.Wire(k))))
	}
	return strings.Join(parts, " ")
}

// tapClassifier is classify for one fleet, recording the first two tokens
// of the subjects it calls other (at most 20), so the breakdown names them.
type tapClassifier struct {
	mu    sync.Mutex
	other map[string]bool
}

func (c *tapClassifier) classify(op leaftap.Op) string {
	k := classify(op)
	if k == kindOther && op.Subject != "" {
		name := op.Subject
		if a, rest, ok := strings.Cut(name, "."); ok {
			b, _, _ := strings.Cut(rest, ".")
			name = a + "." + b + ".…"
		}
		c.mu.Lock()
		if c.other == nil {
			c.other = map[string]bool{}
		}
		if len(c.other) < 20 {
			c.other[name] = true
		}
		c.mu.Unlock()
	}
	return k
}

func (c *tapClassifier) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(mapsKeys(c.other))
}
