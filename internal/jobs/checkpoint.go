package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointBucket is the KV bucket holding the progress of unfinished jobs.
const CheckpointBucket = "CRMSYNC_CHECKPOINTS"

// EnsureCheckpoints creates or updates the checkpoint bucket. Entries of jobs
// that never finish (their message purged by hand) age out after ttl
// (default 7 days).
func EnsureCheckpoints(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      CheckpointBucket,
		Description: "crmsync job progress, by job message sequence",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	}, replicas)
}

// checkpoint is the saved progress of one job message.
type checkpoint struct {
	// Failures counts consecutive failed attempts that made no progress;
	// WORKER_MAX_ATTEMPTS of them dead-letter the job. Rate-limit
	// hand-backs and shutdowns are not failures.
	Failures int `json:"failures"`
	// Attempts counts every attempt that ran the handler.
	Attempts  int                `json:"attempts"`
	Started   time.Time          `json:"started"`
	LastError string             `json:"lastError,omitempty"`
	Items     map[int]ItemResult `json:"items,omitempty"`

	// stored is true once the checkpoint exists in KV (loaded or saved),
	// so a job that finishes on its first delivery without ever saving
	// costs no KV round trip at all.
	stored bool
	// short is true once it was stored without its items (too large);
	// logged once.
	short bool
}

func checkpointKey(streamSeq uint64) string { return "msg-" + strconv.FormatUint(streamSeq, 10) }

// errCorruptCheckpoint marks a checkpoint that cannot be decoded: the job
// starts over (safe: upserts are idempotent).
var errCorruptCheckpoint = errors.New("corrupt")

// loadCheckpoint returns the saved progress of a message, or an empty one
// when there is none. A corrupt checkpoint returns an empty one and an error
// wrapping errCorruptCheckpoint; any other error means KV could not be read,
// and the caller should not run the job without its progress.
func loadCheckpoint(ctx context.Context, kv jetstream.KeyValue, seq uint64) (*checkpoint, error) {
	cp := &checkpoint{}
	if kv == nil {
		return cp, nil
	}
	e, err := kv.Get(ctx, checkpointKey(seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return cp, nil
	}
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(e.Value(), cp); err != nil {
		return &checkpoint{stored: true}, fmt.Errorf("checkpoint %s: %w: %v", checkpointKey(seq), errCorruptCheckpoint, err)
	}
	cp.stored = true
	return cp, nil
}

// saveCheckpoint stores cp under its message's key. When its JSON is
// larger than limit bytes it stores cp without its items and reports
// short: the attempt counts are what must never be lost. The JSON is
// json.Marshal's, encoded without reflection (checkpoint.appendJSON).
func saveCheckpoint(ctx context.Context, kv jetstream.KeyValue, seq uint64, cp *checkpoint, limit int) (short bool, err error) {
	if kv == nil {
		return false, nil
	}
	b, err := cp.marshalJSON()
	if err != nil {
		return false, err
	}
	if len(b) > limit {
		c := *cp
		c.Items = nil
		if b, err = c.marshalJSON(); err != nil {
			return true, err
		}
		short = true
	}
	_, err = kv.Put(ctx, checkpointKey(seq), b)
	return short, err
}

func deleteCheckpoint(ctx context.Context, kv jetstream.KeyValue, seq uint64) error {
	if kv == nil {
		return nil
	}
	err := kv.Purge(ctx, checkpointKey(seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}
