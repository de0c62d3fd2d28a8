package jobs

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureKV creates or updates the worker's bucket cfg (idempotent) with one
// revision per key and at least one replica. Its error names the bucket.
func ensureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, replicas int) (jetstream.KeyValue, error) {
	cfg.History, cfg.Replicas = 1, max(replicas, 1)
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
