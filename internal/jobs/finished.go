package jobs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FinishedBucket is the KV bucket of the job ids that have a final result
// (succeeded, partial, failed or dead-lettered). A job whose id is in it is
// acked without calling any API and without a second result, however long
// ago the broker's duplicate window forgot it, and `enqueue` reports it as
// already done.
const FinishedBucket = "CRMSYNC_FINISHED"

// EnsureFinished creates or updates the finished-jobs bucket (idempotent).
// An entry lives ttl after its job finished (RESULTS_MAX_AGE, default 7
// days: as long as the job's result).
func EnsureFinished(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      FinishedBucket,
		Description: "crmsync job ids with a final result, by job id",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	}, replicas)
}

// plainKey matches the ids used as keys as they are: dot-separated tokens
// of letters, digits, '_' and '-', starting with a letter or digit.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

// FinishedKey returns the KV key of job id in FinishedBucket, encoded as
// backfill.RecordKey encodes CRMSYNC_BACKFILLS keys: an id KV keys allow as
// it is is its own key; any other (a space, non-ASCII, "..", a leading '.'
// or '_', '=' or '/') becomes "=" and its unpadded URL-safe base64. Plain
// keys never contain '=', so two ids never share a key.
func FinishedKey(id string) string {
	if plainKey.MatchString(id) {
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// Finish is what FinishedBucket holds about a finished job.
type Finish struct {
	Status       string    `json:"status"`                 // the result's status
	DeadLettered bool      `json:"deadLettered,omitempty"` // the job went to the DLQ
	MsgID        string    `json:"msgId,omitempty"`        // Nats-Msg-Id of the message that finished it
	Finished     time.Time `json:"finished"`
}

// LookUpFinished returns what kv holds about job id, or nil when the job
// has not finished (or its entry expired). A nil kv knows nothing.
func LookUpFinished(ctx context.Context, kv jetstream.KeyValue, id string) (*Finish, error) {
	if kv == nil {
		return nil, nil
	}
	e, err := kv.Get(ctx, FinishedKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: get %s: %w", FinishedBucket, FinishedKey(id), err)
	}
	var f Finish
	if err := json.Unmarshal(e.Value(), &f); err != nil {
		// Something wrote it there on purpose: the job id is finished.
		return &Finish{Status: StatusFailed}, nil
	}
	return &f, nil
}

// Skips reports whether a message carrying Nats-Msg-Id msgID is the
// finished job again (acked without running): always, but for a
// dead-lettered job brought back under a new Nats-Msg-Id (`enqueue dlq
// replay`), which is a request to run it again. A nil Finish skips nothing.
func (f *Finish) Skips(msgID string) bool {
	return f != nil && (!f.DeadLettered || f.MsgID == msgID)
}

// alreadyFinished looks id up in the finished bucket. When it is finished
// (see Finish.skips) it acks msg, drops a checkpoint left behind, and
// reports true; when the bucket cannot be read it hands msg back and
// reports true (the job is not run without knowing); otherwise false.
func (r *Runner) alreadyFinished(ctx context.Context, msg jetstream.Msg, seq uint64, delivered uint64, kind Kind, id string, log *slog.Logger) bool {
	if r.cfg.Finished == nil || id == strconv.FormatUint(seq, 10) {
		return false
	}
	f, err := r.lookUp(ctx, msg, id)
	if err != nil {
		d := r.backoff(1)
		log.Warn("cannot tell whether the job already finished; handing it back", "err", err, "retry_in", d)
		_ = msg.NakWithDelay(d)
		if !kind.valid() {
			kind = "invalid"
		}
		r.retried(kind, "finished_unavailable", time.Now())
		return true
	}
	if !f.Skips(msg.Headers().Get(HeaderMsgID)) {
		return false
	}
	log.Info("job already finished; acking it without running it again", "status", f.Status, "finished", f.Finished)
	// A redelivery may have a checkpoint left from before the finish.
	r.ack(msg, seq, &checkpoint{stored: delivered > 1 && r.kv != nil}, log)
	return true
}

// lookUp returns what the finished bucket holds about job id: the lane
// fetcher's fresh lookup if it made one, else the bucket's answer now.
func (r *Runner) lookUp(ctx context.Context, msg jetstream.Msg, id string) (*Finish, error) {
	if f, ok := prelooked(ctx, msg, id); ok {
		return f, nil
	}
	fctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	return LookUpFinished(fctx, r.cfg.Finished, id)
}

// markFinished records res's job as finished (after its result was
// published, before the ack). A failure is logged: the job is then known
// finished only within the broker's duplicate window.
func (r *Runner) markFinished(res *Result, msg jetstream.Msg, seq uint64, log *slog.Logger) {
	if r.cfg.Finished == nil || res.ID == strconv.FormatUint(seq, 10) {
		return
	}
	b, err := json.Marshal(Finish{Status: res.Status, DeadLettered: res.DeadLettered, MsgID: msg.Headers().Get(HeaderMsgID), Finished: res.Finished})
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
		_, err = r.cfg.Finished.Put(ctx, FinishedKey(res.ID), b)
		cancel()
	}
	if err != nil {
		log.Warn("cannot record the job as finished; a re-run after the duplicate window would run it again", "err", err)
	}
}
