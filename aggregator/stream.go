package aggregator

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// ensureStream creates or updates the telemetry stream.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	sc := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Edgepulse batches: tele.<site>.<host> stored as tele.<site>.<host>.<partition>",
		Subjects:    []string{"tele.*.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      "tele.*.*",
			Destination: fmt.Sprintf("tele.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(%d,1,2)}}", cfg.Partitions),
		},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.StreamMaxAge,
		Duplicates:  cfg.DedupWindow,
		MaxMsgSize:  codec.MaxBatchBytes,
		Compression: jetstream.S2Compression,
		Replicas:    cfg.replicas(),
	}
	if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("aggregator: stream %s: %w", StreamName, err)
	}
	return nil
}

// legacyConsumer is the single consumer of every partition that versions
// before the ring used. Its filter overlaps the partition consumers', which
// a work-queue stream refuses, so it is deleted; its un-acknowledged
// messages stay in the stream for the partition consumers.
const legacyConsumer = "agg-all"

func dropLegacyConsumer(ctx context.Context, js jetstream.JetStream) error {
	err := js.DeleteConsumer(ctx, StreamName, legacyConsumer)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("aggregator: delete consumer %s: %w", legacyConsumer, err)
	}
	return nil
}
