// Package deadletter inspects and replays the messages in CRMSYNC_DLQ:
// list them, show one, republish one to the subject it came from, and
// purge the stream.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

// Letter is one dead letter.
type Letter struct {
	Seq             uint64
	Time            time.Time // when it was dead-lettered
	Subject         string    // crmsync.dlq.<kind>
	JobID           string
	Reason          string
	Attempts        string
	OriginalSubject string
	Header          nats.Header
	Data            []byte
}

func fromMsg(seq uint64, t time.Time, subject string, h nats.Header, data []byte) Letter {
	return Letter{Seq: seq, Time: t, Subject: subject, JobID: h.Get(jobs.HeaderJobID), Reason: h.Get(jobs.HeaderError),
		Attempts: h.Get(jobs.HeaderAttempts), OriginalSubject: h.Get(jobs.HeaderOriginalSubject), Header: h, Data: data}
}

// Each calls fn with every dead letter stored now, oldest first.
func Each(ctx context.Context, js jetstream.JetStream, fn func(Letter) error) error {
	var ferr error
	err := backfill.ReadStream(ctx, js, jobs.DLQStream, nil, 0, true, func(m jetstream.Msg) bool {
		meta, err := m.Metadata()
		if err != nil {
			ferr = err
			return false
		}
		ferr = fn(fromMsg(meta.Sequence.Stream, meta.Timestamp, m.Subject(), m.Headers(), m.Data()))
		return ferr == nil
	})
	return errors.Join(err, ferr)
}

// ErrNotFound is returned for a sequence that holds no dead letter.
var ErrNotFound = errors.New("no dead letter at that sequence")

// Get returns the dead letter at seq.
func Get(ctx context.Context, js jetstream.JetStream, seq uint64) (Letter, error) {
	s, err := js.Stream(ctx, jobs.DLQStream)
	if err != nil {
		return Letter{}, err
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("dlq seq %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Letter{}, err
	}
	return fromMsg(m.Sequence, m.Time, m.Subject, m.Header, m.Data), nil
}

// Replayed says what Replay did.
type Replayed struct {
	Seq       uint64
	Subject   string // where it went
	MsgID     string // its new Nats-Msg-Id
	Duplicate bool   // the jobs stream already had it (an earlier replay)
}

// deadLetterHeaders are added by the worker when it dead-letters; a replay
// drops them. Crmsync-Job-Id goes too: the worker takes a job's id from
// its envelope (else its Nats-Msg-Id), never from that header.
var deadLetterHeaders = []string{jobs.HeaderError, jobs.HeaderJobID, jobs.HeaderAttempts, jobs.HeaderOriginalSubject,
	jobs.HeaderDeadLetteredTime, jobs.HeaderOriginalMsgID}

// replayHeaders returns the headers a replay of l carries: the job's own,
// without the DLQ's and without any NATS control header (Nats-Msg-Id,
// Nats-Expected-*, Nats-TTL, Nats-Rollup, ...), so that it is published as
// a fresh job would be. The job's Crmsync-Priority stays: a replayed
// backfill job is still a backfill job.
func replayHeaders(l Letter) nats.Header {
	h := nats.Header{}
	for k, v := range l.Header {
		if strings.HasPrefix(strings.ToLower(k), "nats-") || slices.ContainsFunc(deadLetterHeaders, func(d string) bool { return strings.EqualFold(k, d) }) {
			continue
		}
		h[k] = v
	}
	return h
}

// Replay republishes the dead letter at seq to its original subject with
// its original body and the job's own headers (see replayHeaders) and a
// fresh Nats-Msg-Id (the original id + "-replay-" + seq: the jobs stream
// lets it through once, and a repeated replay of the same letter is
// deduplicated), then deletes it from the DLQ.
func Replay(ctx context.Context, js jetstream.JetStream, seq uint64) (Replayed, error) {
	l, err := Get(ctx, js, seq)
	if err != nil {
		return Replayed{}, err
	}
	if !strings.HasPrefix(l.OriginalSubject, jobs.JobsPrefix) {
		return Replayed{}, fmt.Errorf("dlq seq %d: original subject %q is not a job subject", seq, l.OriginalSubject)
	}
	orig := l.Header.Get(jobs.HeaderOriginalMsgID)
	if orig == "" {
		orig = l.JobID
	}
	if orig == "" {
		orig = "dlq"
	}
	h := replayHeaders(l)
	id := orig + "-replay-" + strconv.FormatUint(seq, 10)
	h.Set(jobs.HeaderMsgID, id)
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: l.OriginalSubject, Header: h, Data: l.Data})
	if err != nil {
		return Replayed{}, fmt.Errorf("dlq seq %d: republishing to %s: %w", seq, l.OriginalSubject, err)
	}
	s, err := js.Stream(ctx, jobs.DLQStream)
	if err != nil {
		return Replayed{}, err
	}
	if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return Replayed{}, fmt.Errorf("dlq seq %d: replayed to %s but not deleted: %w", seq, l.OriginalSubject, err)
	}
	return Replayed{Seq: seq, Subject: l.OriginalSubject, MsgID: id, Duplicate: ack.Duplicate}, nil
}

// Purge deletes every dead letter and returns how many there were.
func Purge(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, jobs.DLQStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	if err := s.Purge(ctx); err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
