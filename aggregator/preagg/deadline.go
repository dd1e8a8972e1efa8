package preagg

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run closes, once a second until ctx ends, the windows whose deadline
// passed and writes the versions decided since, of every rule and of the
// partitions this member owns, whichever member observed them: the open
// sets are in Redis, so what a member that died left open or unwritten is
// done by the member that takes its partitions.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := e.CloseDue(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			e.log.Warn("preagg: closing due windows", "err", err)
		}
	}
}

// CloseDue closes the windows whose deadline passed and writes every
// decided version not written yet.
func (e *Engine) CloseDue(ctx context.Context) error {
	now := strconv.FormatInt(e.now().UnixMilli(), 10)
	pipe := e.rdb.Pipeline()
	type ref struct{ rule, part int }
	var refs []ref
	var cmds []*redis.StringSliceCmd
	parts := e.allPartitions()
	if e.owned != nil {
		parts = e.owned()
	}
	for ri := range e.cfg.Rules {
		for _, p := range parts {
			refs = append(refs, ref{ri, p})
			cmds = append(cmds, pipe.ZRangeByScore(ctx, e.openKey(&e.cfg.Rules[ri], p), &redis.ZRangeBy{Min: "-inf", Max: now, Count: 64}))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		e.m.errors.Inc()
		return err
	}
	var due []window
	for i, cmd := range cmds {
		for _, m := range cmd.Val() {
			end, err := strconv.ParseInt(m, 10, 64)
			if err != nil {
				continue
			}
			// width is read back from the hash; 0 here only names the
			// previous window, which a forced close does not consult.
			due = append(due, window{refs[i].rule, refs[i].part, end, 0})
		}
	}
	return e.closeAndWrite(ctx, due, true, nil)
}

func (e *Engine) allPartitions() []int {
	out := make([]int, e.partitions)
	for i := range out {
		out[i] = i
	}
	return out
}
