package aggregator

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ConfigBucket is the KV bucket holding agent configuration overrides and
// detection rules: keys "_all", "<site>._site" and "<site>.<host>", each a
// YAML or JSON document (edge/agent Override). Agents follow their keys
// through the site leaf; docs/config-push.md describes the protocol.
const ConfigBucket = "EP_CONFIG"

// ensureConfigBucket creates the configuration bucket if it is missing.
// It keeps a few revisions per key so an operator can see what changed
// (nats kv history EP_CONFIG <key>). Direct gets let any replica answer an
// agent's read.
func (a *Aggregator) ensureConfigBucket(ctx context.Context) error {
	_, err := a.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ConfigBucket,
		Description: "Edgepulse agent configuration overrides (keys: _all, <site>._site, <site>.<host>)",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    a.cfg.replicas(),
	})
	if err != nil {
		return fmt.Errorf("aggregator: config bucket %s: %w", ConfigBucket, err)
	}
	return nil
}
