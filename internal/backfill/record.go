package backfill

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// RecordBucket is the KV bucket in which enqueue keeps a Record of each
// backfill it published, so that Status knows how many jobs to expect.
const RecordBucket = "CRMSYNC_BACKFILLS"

// ErrNoRecord means no Record is stored for a backfill: it was enqueued
// before records were kept, its record expired, or another publisher
// enqueued it.
var ErrNoRecord = errors.New("no record of the backfill")

// Record is what enqueue keeps about a published backfill: its size and
// where it came from. It holds no secrets (account is a profile's name).
type Record struct {
	ID       string    `json:"id"`
	Kind     jobs.Kind `json:"kind"`
	Target   string    `json:"target"` // contact.upsert: klicktipp or klipy; "" for email.validate
	Account  string    `json:"account"`
	Jobs     int       `json:"jobs"`     // jobs published (stored or already there)
	Items    int       `json:"items"`    // contacts or emails in them
	Rejected int       `json:"rejected"` // bad rows left out
	Source   string    `json:"source"`   // the input file's base name, or "stdin"
	Created  time.Time `json:"created"`  // when it was first enqueued (RFC 3339)
}

// RecordsConfig configures the record bucket. Zero fields take the
// defaults stated.
type RecordsConfig struct {
	// TTL is how long a record is kept after it was last written; default
	// 168h (RESULTS_MAX_AGE's default: a record outliving the results
	// would count every job as missing).
	TTL time.Duration
	// Replicas is the bucket's replica count; default 1 (STREAM_REPLICAS).
	Replicas int
}

// EnsureRecords creates the record bucket, or updates its configuration to
// cfg when it exists (idempotent).
func EnsureRecords(ctx context.Context, js jetstream.JetStream, cfg RecordsConfig) (jetstream.KeyValue, error) {
	if cfg.TTL <= 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      RecordBucket,
		Description: "crmsync backfills enqueued: size and source, by backfill id",
		History:     1,
		TTL:         cfg.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", RecordBucket, err)
	}
	return kv, nil
}

// SaveRecord stores rec under RecordKey(rec.ID). When a record of the same
// backfill with the same figures is stored already (a re-run that found
// its jobs enqueued), its Created time is kept; the write still restarts
// the TTL. A stored value that is not a record of rec.ID is overwritten.
func SaveRecord(ctx context.Context, kv jetstream.KeyValue, rec Record) error {
	if old, err := getRecord(ctx, kv, rec.ID); err == nil &&
		old.Kind == rec.Kind && old.Jobs == rec.Jobs && old.Items == rec.Items && !old.Created.IsZero() {
		rec.Created = old.Created
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, RecordKey(rec.ID), data); err != nil {
		return fmt.Errorf("kv %s: put %s: %w", RecordBucket, rec.ID, err)
	}
	return nil
}

// LoadRecord returns the record of backfill id, or ErrNoRecord when there
// is none (nor a bucket).
func LoadRecord(ctx context.Context, js jetstream.JetStream, id string) (*Record, error) {
	kv, err := js.KeyValue(ctx, RecordBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", RecordBucket, err)
	}
	return getRecord(ctx, kv, id)
}

func getRecord(ctx context.Context, kv jetstream.KeyValue, id string) (*Record, error) {
	e, err := kv.Get(ctx, RecordKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: get %s: %w", RecordBucket, id, err)
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("kv %s: record %s: %w", RecordBucket, id, err)
	}
	if rec.ID != id { // two ids cannot share a key; a foreign value can
		return nil, fmt.Errorf("kv %s: key %s holds the record of %q", RecordBucket, RecordKey(id), rec.ID)
	}
	return &rec, nil
}

// plainKey matches the ids used as keys as they are: dot-separated tokens
// of letters, digits, '_' and '-', starting with a letter or digit (every
// id CheckID and DeriveID allow, unless it has ".." or ends in '.').
var plainKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

// RecordKey returns the KV key for backfill id. An id KV keys allow as it
// is (see plainKey) is its own key; any other (a space, non-ASCII, "..",
// a leading '.' or '_', '=' or '/') becomes "=" and its unpadded
// URL-safe base64. Plain keys never contain '=', so two ids never share a
// key.
func RecordKey(id string) string {
	if plainKey.MatchString(id) {
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}
