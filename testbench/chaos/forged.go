package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// neighbour is the site host the forger logs in as (a leaf user of its
// own, as every agent host has).
const neighbour = "hostB"

// forgedValue marks the forged windows: a stored node_load1 of this value
// would be the forger's.
const forgedValue = 999.25

// forgedNeighbour: while hostA's agent ships, a forger on the same site
// tries (1) the leaf without credentials, (2) as hostB, publishing hostA's
// next windows on tele.<site>.hostA, and (3) as hostB, publishing them on
// its own subject with hostA's next Nats-Msg-Ids — plain agent/seq (what
// poisoned the stream's de-duplication before issue 18) and with guessed
// tags. Then the agent is stopped and hostA's windows since the attack
// counted: nothing the forger sent may be stored, none of hostA's windows
// lost or taken for a duplicate.
func forgedNeighbour(ctx context.Context, st *harness.Stack, o Options) (string, error) {
	if err := st.RestartAgent(); err != nil {
		return "", err
	}
	const guesses = 10
	fmt.Fprintf(o.Log, "forged_neighbour: as %s, forge hostA's next %d windows three ways\n", neighbour, guesses)
	if err := sleep(ctx, 10*time.Second); err != nil {
		return "", err
	}
	start := time.Now()
	refused := 0
	if nc, err := nats.Connect("nats://"+st.SiteLeafAddr(), nats.Timeout(3*time.Second)); err != nil {
		refused++
	} else {
		nc.Close()
	}
	hubHost := strings.TrimPrefix(st.HubURL[strings.LastIndexByte(st.HubURL, '@')+1:], "")
	if nc, err := nats.Connect("nats://"+hubHost, nats.Timeout(3*time.Second)); err != nil {
		refused++
	} else {
		nc.Close()
	}
	user, pwFile := st.AgentCreds(neighbour)
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return "", err
	}
	var denied atomic.Int64
	nc, err := nats.Connect("nats://"+st.SiteLeafAddr(), nats.UserInfo(user, strings.TrimSpace(string(pw))),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				denied.Add(1)
			}
		}))
	if err != nil {
		return "", fmt.Errorf("forger login as %s: %w", neighbour, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	last, err := newestApplied(ctx, st.Redis.Addr, "siteA/hostA")
	if err != nil {
		return "", err
	}
	streamed := 0
	for i := uint64(1); i <= guesses; i++ {
		seq := last + i
		frame, err := forgedFrame("hostA", seq)
		if err != nil {
			return "", err
		}
		own, err := forgedFrame(neighbour, seq) // its own identity, hostA's id
		if err != nil {
			return "", err
		}
		plain := codec.MsgID("siteA/hostA", seq)
		var tag [8]byte
		rand.Read(tag[:])
		m := &nats.Msg{Subject: "tele.siteA.hostA", Data: frame, Header: nats.Header{jetstream.MsgIDHeader: []string{plain}}}
		nc.PublishMsg(m) // (2) refused by the leaf
		for _, f := range []struct {
			id   string
			data []byte
		}{{plain, frame}, {plain + "/" + hex.EncodeToString(tag[:]), own}, {plain + "/x", own}} {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := js.PublishMsg(pctx, &nats.Msg{Subject: "tele.siteA." + neighbour, Data: f.data,
				Header: nats.Header{jetstream.MsgIDHeader: []string{f.id}}}) // (3) stored by the stream, rejected by the aggregator
			cancel()
			if err == nil {
				streamed++
			}
		}
	}
	nc.Flush()
	// Let hostA ship past the forged sequences, then drain.
	if err := sleep(ctx, time.Duration(guesses+6)*2*time.Second); err != nil {
		return "", err
	}
	st.Agent.Stop()
	if _, err := drained(ctx, st, `node_load1{instance="hostA"}`); err != nil {
		return "", err
	}
	pts, err := samples(ctx, st.APIURL, `node_load1{instance="hostA"}`, time.Now())
	if err != nil {
		return "", err
	}
	var ends []float64
	forgedStored := 0
	for _, p := range pts {
		if p[0] >= float64(start.Unix()) {
			ends = append(ends, p[0])
		}
		if p[1] == forgedValue {
			forgedStored++
		}
	}
	distinct := compact(ends)
	expected := 0
	if len(distinct) > 0 {
		expected = int((distinct[len(distinct)-1]-distinct[0])/2) + 1
	}
	if n, _ := seriesCount(ctx, st.APIURL, `node_load1{instance="`+neighbour+`"}`); n > 0 {
		forgedStored += n
	}
	stz, _ := statz(ctx, st.APIURL)
	rej, _ := stz["Rejected"].(map[string]any)
	agentDup := agentStat(st.Agent.Tail(4000), "Duplicate:")
	return fmt.Sprintf("RESULT scenario=forged_neighbour windows_expected=%d windows_stored=%d lost=%d duplicates=%d restarts=1 forged_stored=%d refused_no_credentials=%d leaf_denied=%d stream_accepted=%d aggregator_rejected_msg_id=%v aggregator_rejected_host=%v agent_acked_as_duplicate=%s",
		expected, len(distinct), expected-len(distinct), len(ends)-len(distinct), forgedStored, refused, denied.Load(), streamed,
		rej["msg_id"], rej["host_mismatch"], agentDup), nil
}

// forgedFrame is a keyframe of a window of host with sequence seq.
func forgedFrame(host string, seq uint64) ([]byte, error) {
	now := time.Now().UnixMilli() / 2000 * 2000
	b := &codec.Batch{Version: codec.Version, Agent: "siteA/" + host, Site: "siteA", Host: host, Seq: seq, Start: now, Width: 2000,
		Series:  []codec.Series{{ID: 0, Name: "node_load1", Labels: []string{"job", "node"}}},
		Rollups: []codec.Rollup{{ID: 0, Count: 2, Sum: 2 * forgedValue, Min: forgedValue, Max: forgedValue, First: forgedValue, Last: forgedValue}}}
	enc, err := codec.NewEncoder(codec.WireOptions{Dictionary: true})
	if err != nil {
		return nil, err
	}
	return enc.Encode(nil, b)
}

// newestApplied reads the agent's newest applied sequence from the
// aggregator's Redis (its applied-sequence set).
func newestApplied(ctx context.Context, addr, agent string) (uint64, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*ws:*"+agent+"*").Result()
	if err != nil || len(keys) == 0 {
		return 0, fmt.Errorf("no applied-sequence set of %s in redis: %v", agent, err)
	}
	z, err := rdb.ZRevRangeWithScores(ctx, keys[0], 0, 0).Result()
	if err != nil || len(z) == 0 {
		return 0, fmt.Errorf("empty applied-sequence set %s: %v", keys[0], err)
	}
	if s, ok := z[0].Member.(string); ok {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, nil
		}
	}
	return uint64(z[0].Score), nil
}

// agentStat finds "name<number>" in the agent's final stats log line.
func agentStat(log, name string) string {
	i := strings.LastIndex(log, name)
	if i < 0 {
		return "?"
	}
	rest := log[i+len(name):]
	j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if j < 0 {
		return rest
	}
	return rest[:j]
}

func compact(ends []float64) []float64 {
	out := make([]float64, 0, len(ends))
	for i, e := range ends {
		if i == 0 || e != ends[i-1] {
			out = append(out, e)
		}
	}
	return out
}
