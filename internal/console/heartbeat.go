package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReplicaBucket is the KV bucket of worker heartbeats: one key per running
// replica, dropped ReplicaTTL after its last write.
const ReplicaBucket = "CRMSYNC_REPLICAS"

// ReplicaTTL is how long a replica's heartbeat is kept: a replica is
// "seen in the last minute" while its key exists.
const ReplicaTTL = time.Minute

// heartbeatEvery is how often a replica rewrites its heartbeat.
const heartbeatEvery = 15 * time.Second

// Replica is one worker's heartbeat. It holds no secrets.
type Replica struct {
	ID      string    `json:"id"`      // unique per process: host and a random suffix
	Host    string    `json:"host"`    // os.Hostname
	PID     int       `json:"pid"`     //
	Version string    `json:"version"` // the binary's module version, or "devel"
	Started time.Time `json:"started"` //
	Seen    time.Time `json:"seen"`    // when this heartbeat was written
	Ready   bool      `json:"ready"`   // what /readyz said then
	Reason  string    `json:"reason,omitempty"`
	Console bool      `json:"console"` // whether it serves the console
}

// EnsureReplicas creates the heartbeat bucket (memory storage: heartbeats
// need not outlive a broker restart), or updates it (idempotent).
func EnsureReplicas(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ReplicaBucket,
		Description: "crmsync worker heartbeats (internal/console), one key per replica",
		History:     1,
		TTL:         ReplicaTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", ReplicaBucket, err)
	}
	return kv, nil
}

// Heartbeat writes r (with Seen, and Ready and Reason from beat, which is
// called before each write and may be nil) to kv now and every 15 s until
// ctx is done, then deletes it. Write
// failures are logged at debug and retried on the next tick: a missed
// heartbeat only hides the replica from the console for a while.
func Heartbeat(ctx context.Context, kv jetstream.KeyValue, r Replica, beat func() (ready bool, reason string), log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := replicaKey(r.ID)
	write := func() {
		r.Seen = time.Now().UTC()
		if beat != nil {
			r.Ready, r.Reason = beat()
		}
		b, _ := json.Marshal(r)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := kv.Put(pctx, key, b); err != nil && ctx.Err() == nil {
			log.Debug("console: heartbeat not written", "bucket", ReplicaBucket, "err", err)
		}
	}
	write()
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := kv.Delete(dctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				log.Debug("console: heartbeat not deleted", "bucket", ReplicaBucket, "err", err)
			}
			cancel()
			return
		case <-t.C:
			write()
		}
	}
}

// replicaKey makes a KV key of a replica id (letters, digits, '-', '_'
// kept; anything else becomes '_').
func replicaKey(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
