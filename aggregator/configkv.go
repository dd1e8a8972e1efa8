package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// ConfigBucket is the KV bucket holding agent configuration overrides and
// detection rules: keys "_all", "<site>._site" and "<site>.<host>", each a
// YAML or JSON document (edge/agent Override). docs/config-push.md
// describes the protocol.
const ConfigBucket = "EP_CONFIG"

// EnsureConfigBucket creates or updates the configuration bucket with
// replicas copies (New calls it; exported for the testbench). The bucket
// keeps a few revisions per key (nats kv history EP_CONFIG <key>) and
// republishes every change, headers only, on ep.config.kv.<key>: a plain
// subject agents can follow through a site leaf, where $KV.> and the
// JetStream API are denied.
func EnsureConfigBucket(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ConfigBucket,
		Description: "Edgepulse agent configuration overrides (keys: _all, <site>._site, <site>.<host>)",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		RePublish: &jetstream.RePublish{
			Source:      "$KV." + ConfigBucket + ".>",
			Destination: codec.ConfigNotifyPrefix + ">",
			HeadersOnly: true,
		},
	})
	if err != nil {
		return fmt.Errorf("aggregator: config bucket %s: %w", ConfigBucket, err)
	}
	return nil
}

var configToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ServeConfig answers ep.config.get.<site>.<host> on nc from the
// configuration bucket (one queue group across the aggregators; the
// subscription ends with nc); exported for the testbench.
func ServeConfig(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (*nats.Subscription, error) {
	kv, err := js.KeyValue(ctx, ConfigBucket)
	if err != nil {
		return nil, fmt.Errorf("aggregator: config bucket %s: %w", ConfigBucket, err)
	}
	sub, err := nc.QueueSubscribe(codec.ConfigGetPrefix+"*.*", "edgepulse-config", func(m *nats.Msg) {
		resp := codec.ConfigLayers{Bucket: ConfigBucket, Layers: []codec.ConfigLayer{}}
		tok := strings.Split(strings.TrimPrefix(m.Subject, codec.ConfigGetPrefix), ".")
		if len(tok) != 2 || !configToken.MatchString(tok[0]) || !configToken.MatchString(tok[1]) {
			resp.Error = fmt.Sprintf("bad subject %q: want %s<site>.<host>", m.Subject, codec.ConfigGetPrefix)
		} else {
			gctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for _, k := range codec.ConfigKeys(tok[0], tok[1]) {
				e, err := kv.Get(gctx, k)
				if errors.Is(err, jetstream.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					resp.Error = fmt.Sprintf("get %s.%s: %v", ConfigBucket, k, err)
					resp.Layers = resp.Layers[:0]
					break
				}
				resp.Layers = append(resp.Layers, codec.ConfigLayer{Key: k, Revision: e.Revision(), Value: string(e.Value())})
			}
			cancel()
		}
		b, _ := json.Marshal(resp)
		if err := m.Respond(b); err != nil {
			log.Debug("config request: respond", "subject", m.Subject, "err", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("aggregator: subscribe %s*.*: %w", codec.ConfigGetPrefix, err)
	}
	return sub, nil
}
