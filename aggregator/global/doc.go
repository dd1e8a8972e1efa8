// Package global answers PromQL over several regions: a storage.Queryable
// whose selectors fan out to this region's store and to the other
// regions' aggregators over their Prometheus HTTP API.
//
// # Fan-out
//
// A Select becomes, per peer region, one instant query of the selector as
// a range vector ({…}[<maxt-mint+1>ms] at maxt), which a Prometheus API
// answers with the raw samples of the range: the peer evaluates nothing
// but the selection, and this aggregator's engine evaluates the query over
// every region's samples. Every series gets a region label (the region
// that answered). Series equal apart from region (a site that fell back
// to another region while its home was down, docs/regions.md) are merged
// into one, a timestamp present in both taken once from the region listed
// first (this one, then peers in order), so a window stored twice is
// never counted twice; the merged series keeps the first region's label.
//
// # Partial results
//
// A peer that does not answer within Timeout, answers with an error, or
// exceeds MaxSeries or MaxBytes is left out and the query's result carries
// a warning naming the region and the reason (as Thanos does with
// partial_response); the local region failing fails the query. At most
// MaxConcurrent peer requests are in flight across all queries; a request
// waiting longer than Timeout for a slot counts as that region not
// answering.
//
// # Types
//
// [Config] and [Peer] are the regions: section of aggregator.yaml;
// [Queryable] is the fan-out; [Metrics] counts peer requests by outcome.
// A Queryable is safe for concurrent use.
//
// # Imports
//
// global must not import NATS or edge.
package global
