package preagg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/edgepulse/edgepulse/codec"
)

// Suffixes of the series written next to a rule's output.
const (
	HostsSuffix   = "_hosts"
	VersionSuffix = "_version"
)

// allSites is the site label of a rule's output when it does not group by
// site (the store gives every series one).
const allSites = "_all"

// PartitionInstance is the instance label of partition p's partial.
func PartitionInstance(p int) string { return fmt.Sprintf("_p%03d", p) }

// write stores the partials of cs, one synthetic batch per (rule,
// partition, site) through the store's write API: the series are X (the
// op's result; count, sum, min and max of the series' values in the
// window statistics), X_hosts and X_version.
func (e *Engine) write(ctx context.Context, cs []closed) error {
	if len(cs) == 0 {
		return nil
	}
	w := e.st.NewWrite()
	for _, c := range cs {
		for _, b := range e.batches(c) {
			if w.Has(b.Agent) {
				if err := w.Exec(ctx); err != nil {
					e.m.errors.Inc()
					return fmt.Errorf("preagg: writing partials: %w", err)
				}
				w = e.st.NewWrite()
			}
			if err := w.Add(ctx, b); err != nil {
				e.m.errors.Inc()
				return fmt.Errorf("preagg: partial %s: %w", b.Agent, err)
			}
		}
	}
	if err := w.Exec(ctx); err != nil {
		e.m.errors.Inc()
		return fmt.Errorf("preagg: writing partials: %w", err)
	}
	return nil
}

// batches turns a closed partial into batches, one per site.
func (e *Engine) batches(c closed) []*codec.Batch {
	r := &e.cfg.Rules[c.w.rule]
	groups := map[string]*part{}
	hosts := map[string]int{}
	for _, v := range c.hosts {
		seen := map[string]bool{}
		err := decodeContrib([]byte(v), func(key string, p part) {
			g := groups[key]
			if g == nil {
				if len(groups) >= e.cfg.MaxGroups {
					e.m.dropped.Inc()
					return
				}
				g = &part{}
				groups[key] = g
			}
			g.merge(p)
			if !seen[key] {
				seen[key] = true
				hosts[key]++
			}
		})
		if err != nil {
			e.m.errors.Inc()
			e.log.Warn("preagg: skipping a malformed contribution", "rule", r.Name, "partition", c.w.part, "end", c.w.end, "err", err)
		}
	}
	siteIdx := slices.Index(r.By, "site")
	bySite := map[string]*codec.Batch{}
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		vals := strings.Split(key, "\x00")
		site := allSites
		var lbls []string
		for i, l := range r.By {
			if i == siteIdx {
				site = vals[i]
				continue
			}
			lbls = append(lbls, l, vals[i])
		}
		lbls = sortPairs(lbls)
		b := bySite[site]
		if b == nil {
			b = &codec.Batch{Agent: "_preagg/" + r.Name + "/" + site + "/" + PartitionInstance(c.w.part), Site: site,
				Host: PartitionInstance(c.w.part), Start: c.w.end - c.w.width, Width: c.w.width, Seq: uint64(c.version)}
			bySite[site] = b
		}
		g := groups[key]
		res := g.result(r.Op)
		h, v := float64(hosts[key]), float64(c.version)
		for _, s := range []struct {
			name string
			ru   codec.Rollup
		}{
			{r.Name, codec.Rollup{Count: uint32(min(g.n, 1<<32-1)), Sum: g.sum, Min: g.min, Max: g.max, First: res, Last: res}},
			{r.Name + HostsSuffix, codec.Rollup{Count: 1, Sum: h, Min: h, Max: h, First: h, Last: h}},
			{r.Name + VersionSuffix, codec.Rollup{Count: 1, Sum: v, Min: v, Max: v, First: v, Last: v}},
		} {
			id := uint32(len(b.Series))
			b.Series = append(b.Series, codec.Series{ID: id, Name: s.name, Kind: codec.Gauge, Labels: lbls})
			s.ru.ID = id
			b.Rollups = append(b.Rollups, s.ru)
		}
	}
	out := make([]*codec.Batch, 0, len(bySite))
	for _, s := range slices.Sorted(maps.Keys(bySite)) {
		out = append(out, bySite[s])
	}
	return out
}

// sortPairs sorts name, value pairs by name.
func sortPairs(kv []string) []string {
	type pair struct{ k, v string }
	ps := make([]pair, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ps = append(ps, pair{kv[i], kv[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	out := kv[:0]
	for _, p := range ps {
		out = append(out, p.k, p.v)
	}
	return out
}
