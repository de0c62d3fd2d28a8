package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/deadletter"
	"crmsync/internal/jobs"
)

// JobView is everything stored about one job id.
type JobView struct {
	ID      string
	Results []StoredResult      // oldest first (a replay adds one)
	Queued  []QueuedMsg         // its messages still on CRMSYNC_JOBS
	Dead    []deadletter.Letter // its dead letters
}

// Found reports whether anything is stored for the job.
func (v *JobView) Found() bool { return len(v.Results)+len(v.Queued)+len(v.Dead) > 0 }

// Newest returns the results, newest first.
func (v *JobView) Newest() []StoredResult {
	out := slices.Clone(v.Results)
	slices.Reverse(out)
	return out
}

// Latest returns the newest result, or nil.
func (v *JobView) Latest() *StoredResult {
	if len(v.Results) == 0 {
		return nil
	}
	return &v.Results[len(v.Results)-1]
}

// StoredResult is a result message.
type StoredResult struct {
	Seq    uint64
	Time   time.Time
	Result jobs.Result
}

// QueuedMsg is a job message waiting or running, with its checkpoint.
type QueuedMsg struct {
	Seq        uint64
	Time       time.Time
	Subject    string
	Priority   string
	Checkpoint *Checkpoint // nil: none saved (not started, or finished at its first attempt)
}

// Checkpoint is a running job's saved progress in CRMSYNC_CHECKPOINTS
// (the JSON internal/jobs writes under "msg-<stream sequence>").
type Checkpoint struct {
	Failures  int                     `json:"failures"`
	Attempts  int                     `json:"attempts"`
	Started   time.Time               `json:"started"`
	LastError string                  `json:"lastError,omitempty"`
	Items     map[int]jobs.ItemResult `json:"items,omitempty"`
}

// FindJob reads what CRMSYNC_RESULTS, CRMSYNC_JOBS (with
// CRMSYNC_CHECKPOINTS) and CRMSYNC_DLQ hold for job id.
func FindJob(ctx context.Context, js jetstream.JetStream, id string) (*JobView, error) {
	v := &JobView{ID: id}
	err := backfill.ReadStream(ctx, js, jobs.ResultsStream, nil, 0, true, func(m jetstream.Msg) bool {
		if m.Headers().Get(jobs.HeaderJobID) != id {
			return true
		}
		var r jobs.Result
		if json.Unmarshal(m.Data(), &r) != nil {
			return true
		}
		meta, _ := m.Metadata()
		sr := StoredResult{Result: r}
		if meta != nil {
			sr.Seq, sr.Time = meta.Sequence.Stream, meta.Timestamp
		}
		v.Results = append(v.Results, sr)
		return true
	})
	if err != nil {
		return v, err
	}
	slices.SortStableFunc(v.Results, func(a, b StoredResult) int {
		return cmp.Or(a.Result.Finished.Compare(b.Result.Finished), cmp.Compare(a.Result.Part, b.Result.Part))
	})
	ckv, cerr := js.KeyValue(ctx, jobs.CheckpointBucket)
	if cerr != nil && !errors.Is(cerr, jetstream.ErrBucketNotFound) {
		return v, fmt.Errorf("kv %s: %w", jobs.CheckpointBucket, cerr)
	}
	err = backfill.ReadStream(ctx, js, jobs.JobsStream, nil, 0, true, func(m jetstream.Msg) bool {
		if !isJob(m, id) {
			return true
		}
		meta, _ := m.Metadata()
		q := QueuedMsg{Subject: m.Subject(), Priority: m.Headers().Get(jobs.HeaderPriority)}
		if meta != nil {
			q.Seq, q.Time = meta.Sequence.Stream, meta.Timestamp
		}
		if ckv != nil && q.Seq > 0 {
			if e, err := ckv.Get(ctx, "msg-"+strconv.FormatUint(q.Seq, 10)); err == nil {
				var cp Checkpoint
				if json.Unmarshal(e.Value(), &cp) == nil {
					q.Checkpoint = &cp
				}
			}
		}
		v.Queued = append(v.Queued, q)
		return true
	})
	if err != nil {
		return v, err
	}
	err = deadletter.Each(ctx, js, func(l deadletter.Letter) error {
		if l.JobID == id {
			v.Dead = append(v.Dead, l)
		}
		return nil
	})
	return v, err
}

// isJob reports whether a job message is job id's: its envelope's id, else
// its Nats-Msg-Id (the wire contract's order).
func isJob(m jetstream.Msg, id string) bool {
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data(), &env) == nil && env.ID != "" {
		return env.ID == id
	}
	return m.Headers().Get(jobs.HeaderMsgID) == id
}
