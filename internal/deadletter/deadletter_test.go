package deadletter_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/deadletter"
	"crmsync/internal/jobs"
)

type testBundle struct {
	js jetstream.JetStream
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	_, js := brokertest.Start(t).Connect(t)
	for _, sc := range jobs.Streams(jobs.StreamConfig{}) {
		if _, err := js.CreateOrUpdateStream(context.Background(), sc); err != nil {
			t.Fatal(err)
		}
	}
	return &testBundle{js: js}
}

const body = `{"id":"j1","kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@example.com"}]}`

// deadLetter stores a dead letter as the worker does: the job's own
// headers, its Nats-Msg-Id kept as Crmsync-Original-Msg-Id, and the DLQ's
// headers. extra adds headers the job was published with.
func (b *testBundle) deadLetter(t *testing.T, jobID, reason string, extra nats.Header) uint64 {
	t.Helper()
	h := nats.Header{}
	for k, v := range extra {
		h[k] = v
	}
	h.Set(jobs.HeaderMsgID, "dlq:"+jobID+":1")
	h.Set(jobs.HeaderOriginalMsgID, jobID)
	h.Set(jobs.HeaderJobID, jobID)
	h.Set(jobs.HeaderError, reason)
	h.Set(jobs.HeaderAttempts, "8")
	h.Set(jobs.HeaderOriginalSubject, jobs.KindContactUpsert.Subject())
	h.Set(jobs.HeaderDeadLetteredTime, "2025-01-02T03:04:05Z")
	ack, err := b.js.PublishMsg(context.Background(), &nats.Msg{Subject: jobs.DeadLetterSubject(jobs.KindContactUpsert), Header: h,
		Data: []byte(strings.Replace(body, "j1", jobID, 1))})
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func (b *testBundle) msgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestEachAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := deadletter.Each(ctx, b.js, func(deadletter.Letter) error { t.Error("a letter in an empty DLQ"); return nil }); err != nil {
		t.Fatal(err)
	}
	b.deadLetter(t, "j1", "gave up after 8 failed attempts", nil)
	b.deadLetter(t, "j2", "account is locked", nil)
	var got []deadletter.Letter
	if err := deadletter.Each(ctx, b.js, func(l deadletter.Letter) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 || got[1].JobID != "j2" || got[1].Reason != "account is locked" ||
		got[1].Attempts != "8" || got[1].OriginalSubject != jobs.KindContactUpsert.Subject() || got[1].Subject != "crmsync.dlq.contact.upsert" ||
		got[1].Time.IsZero() || !strings.Contains(string(got[1].Data), `"id":"j2"`) {
		t.Fatalf("letters %+v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := deadletter.Each(ctx, b.js, func(deadletter.Letter) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Each with fn failing: %v after %d letters", err, n)
	}

	l, err := deadletter.Get(ctx, b.js, 2)
	if err != nil || l.JobID != "j2" || l.Header.Get(jobs.HeaderError) != "account is locked" {
		t.Errorf("Get(2) = %+v, %v", l, err)
	}
	if _, err := deadletter.Get(ctx, b.js, 99); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("Get(99): %v, want ErrNotFound", err)
	}
}

// A replayed job looks like a fresh publish: its body and its own headers,
// a new Nats-Msg-Id, and none of the DLQ's headers or other NATS control
// headers (a Nats-Expected-Stream of the DLQ would make the jobs stream
// refuse it).
func TestReplayIsAFreshPublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	seq := b.deadLetter(t, "j1", "klipy: 503", nats.Header{
		"Nats-Expected-Stream": []string{jobs.DLQStream}, // satisfied when dead-lettered, wrong for the jobs stream
		"Nats-Trace-Dest":      []string{"trace.x"},
		"nats-lower":           []string{"x"},
		"Traceparent":          []string{"00-abc-def-01"},
		"X-Source":             []string{"crm"},
		jobs.HeaderPriority:    []string{jobs.PriorityBackfill}, // the job's own lane: a replayed backfill stays one
	})
	r, err := deadletter.Replay(ctx, b.js, seq)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != seq || r.Subject != jobs.KindContactUpsert.Subject() || r.MsgID != "j1-replay-1" || r.Duplicate {
		t.Errorf("Replayed %+v", r)
	}
	s, _ := b.js.Stream(ctx, jobs.JobsStream)
	m, err := s.GetLastMsgForSubject(ctx, r.Subject)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{jobs.HeaderPriority, "Nats-Msg-Id", "Traceparent", "X-Source"}; !slices.Equal(keys, want) {
		t.Errorf("replayed headers %v, want %v", keys, want)
	}
	if m.Header.Get(jobs.HeaderMsgID) != "j1-replay-1" || m.Header.Get("X-Source") != "crm" || m.Header.Get(jobs.HeaderPriority) != jobs.PriorityBackfill || string(m.Data) != body {
		t.Errorf("replayed message %v %s", m.Header, m.Data)
	}
	if n := b.msgs(t, jobs.DLQStream); n != 0 {
		t.Errorf("%d dead letters left after the replay", n)
	}
	if _, err := deadletter.Replay(ctx, b.js, seq); !errors.Is(err, deadletter.ErrNotFound) {
		t.Errorf("replaying it again: %v, want ErrNotFound", err)
	}
}

// A replay that published but did not delete (a crash in between) is
// deduplicated when repeated.
func TestReplayRepeatedIsDeduplicated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	seq := b.deadLetter(t, "j7", "x", nil)
	if _, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: jobs.KindContactUpsert.Subject(), Data: []byte(body),
		Header: nats.Header{jobs.HeaderMsgID: []string{"j7-replay-1"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := deadletter.Replay(ctx, b.js, seq)
	if err != nil || !r.Duplicate {
		t.Fatalf("Replay = %+v, %v; want a duplicate", r, err)
	}
	if b.msgs(t, jobs.JobsStream) != 1 || b.msgs(t, jobs.DLQStream) != 0 {
		t.Errorf("%d jobs, %d dead letters", b.msgs(t, jobs.JobsStream), b.msgs(t, jobs.DLQStream))
	}
}

func TestReplayRefusesANonJobSubject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	h := nats.Header{jobs.HeaderOriginalSubject: []string{"crmsync.results.x"}, jobs.HeaderJobID: []string{"j"}}
	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: jobs.DLQInvalid, Header: h, Data: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deadletter.Replay(ctx, b.js, ack.Sequence); err == nil || !strings.Contains(err.Error(), "not a job subject") {
		t.Errorf("Replay: %v", err)
	}
	if b.msgs(t, jobs.DLQStream) != 1 {
		t.Error("a letter that was not replayed was deleted")
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if n, err := deadletter.Purge(ctx, b.js); err != nil || n != 0 {
		t.Errorf("Purge of an empty DLQ = %d, %v", n, err)
	}
	b.deadLetter(t, "j1", "x", nil)
	b.deadLetter(t, "j2", "y", nil)
	if n, err := deadletter.Purge(ctx, b.js); err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2", n, err)
	}
	if b.msgs(t, jobs.DLQStream) != 0 {
		t.Error("dead letters left after Purge")
	}
}
