package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Scanned queued messages were searched; Truncated says the queue
	// holds more (a job not started yet further back is not shown).
	Scanned   uint64
	Truncated bool
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
	if err := findQueued(ctx, js, v); err != nil {
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

// maxQueuedScan bounds the queued messages FindJob reads one by one
// (CRMSYNC_JOBS is a work queue: no second consumer may read it, so
// messages are fetched by sequence). Jobs with a checkpoint are found
// wherever they are.
const maxQueuedScan = 2000

// findQueued adds job v.ID's messages on CRMSYNC_JOBS: those with a
// checkpoint (started and not finished), then the oldest maxQueuedScan.
func findQueued(ctx context.Context, js jetstream.JetStream, v *JobView) error {
	s, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", jobs.JobsStream, err)
	}
	checkpoints := map[uint64]*Checkpoint{}
	if err := eachValue(ctx, js, jobs.CheckpointBucket, func(key string, val []byte) {
		seq, err := strconv.ParseUint(strings.TrimPrefix(key, "msg-"), 10, 64)
		var cp Checkpoint
		if err == nil && json.Unmarshal(val, &cp) == nil {
			checkpoints[seq] = &cp
		}
	}); err != nil {
		return err
	}
	seen := map[uint64]bool{}
	add := func(m *jetstream.RawStreamMsg) {
		if seen[m.Sequence] || !isJob(m, v.ID) {
			return
		}
		seen[m.Sequence] = true
		v.Queued = append(v.Queued, QueuedMsg{Seq: m.Sequence, Time: m.Time, Subject: m.Subject,
			Priority: m.Header.Get(jobs.HeaderPriority), Checkpoint: checkpoints[m.Sequence]})
	}
	for seq := range checkpoints {
		if m, err := s.GetMsg(ctx, seq); err == nil {
			add(m)
		}
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", jobs.JobsStream, err)
	}
	seq := info.State.FirstSeq
	for range min(info.State.Msgs, maxQueuedScan) {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream %s: seq %d: %w", jobs.JobsStream, seq, err)
		}
		add(m)
		seq = m.Sequence + 1
	}
	v.Scanned = min(info.State.Msgs, maxQueuedScan)
	v.Truncated = info.State.Msgs > maxQueuedScan
	slices.SortFunc(v.Queued, func(a, b QueuedMsg) int { return cmp.Compare(a.Seq, b.Seq) })
	return nil
}

// isJob reports whether a job message is job id's: its envelope's id, else
// its Nats-Msg-Id (the wire contract's order).
func isJob(m *jetstream.RawStreamMsg, id string) bool {
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data, &env) == nil && env.ID != "" {
		return env.ID == id
	}
	return m.Header.Get(jobs.HeaderMsgID) == id
}
