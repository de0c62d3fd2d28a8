package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

// restartBroker restarts the embedded server on its store (the runner must
// be stopped) and reconnects the bundle.
func (b *bundle) restartBroker(t *testing.T) {
	t.Helper()
	b.srv.Restart()
	b.nc, b.js = b.srv.Connect(t)
	var err error
	if b.cons, err = jobs.Setup(context.Background(), b.js, jobs.StreamConfig{AckWait: b.cfg.AckWait}); err != nil {
		t.Fatal(err)
	}
}

// A backfill run again after the broker restarted (its duplicate window
// forgotten with the acked messages) makes no API call: enqueue reports its
// jobs as already done, and the same jobs published again by hand are acked
// without running and without a second result.
func TestFinishedJobsStayFinishedAcrossARestart(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	var in bytes.Buffer
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&in, `{"email":"re%d@example.com","firstName":"F%d"}`+"\n", i, i)
	}
	spec := backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy, Batch: 5}
	run := func() *backfill.Stats {
		t.Helper()
		st := &backfill.Stats{}
		r := backfill.NewJSONLReader(bytes.NewReader(in.Bytes()), spec)
		if err := backfill.Publish(context.Background(), b.nc, spec.Kind, r, backfill.NewChunker("rerun", spec), backfill.Options{Stats: st}); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := run(); st.Published.Load() != 4 || st.Done.Load() != 0 {
		t.Fatalf("first run: %d published, %d done; want 4, 0", st.Published.Load(), st.Done.Load())
	}
	b.start(t)
	for _, r := range b.results(t, 4, 20*time.Second) {
		if r.Status != jobs.StatusSucceeded {
			t.Errorf("result %+v", r)
		}
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	calls := b.kl.Count("", "")
	b.restartBroker(t)

	st := run()
	if st.Done.Load() != 4 || st.Published.Load() != 0 || st.Duplicates.Load() != 0 || st.Jobs.Load() != 4 {
		t.Errorf("second run: %d jobs, %d done, %d published, %d duplicates; want 4, 4, 0, 0",
			st.Jobs.Load(), st.Done.Load(), st.Published.Load(), st.Duplicates.Load())
	}
	// A publisher that does not use enqueue sends the same jobs again: the
	// broker has forgotten them, the worker has not.
	c := backfill.NewChunker("rerun", spec)
	r := backfill.NewJSONLReader(bytes.NewReader(in.Bytes()), spec)
	var sent []*backfill.Job
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if j := c.Add(it.JSON); j != nil {
			sent = append(sent, j)
		}
	}
	if j := c.Flush(); j != nil {
		sent = append(sent, j)
	}
	for _, j := range sent {
		ack, err := b.js.PublishMsg(context.Background(), &nats.Msg{Subject: spec.Kind.Subject(), Data: j.Data, Header: nats.Header{jobs.HeaderMsgID: []string{j.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate {
			t.Fatalf("job %s: the broker still remembers it after the restart; the test proves nothing", j.ID)
		}
	}
	b.start(t)
	awaitCond(t, 20*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	if n := b.kl.Count("", "") - calls; n != 0 {
		t.Errorf("the second run made %d API calls, want 0", n)
	}
	if n := b.count(t, jobs.ResultsStream); n != 4 {
		t.Errorf("%d results, want 4 (one per job)", n)
	}
}

// FinishedKey encodes ids as backfill.RecordKey does (the README documents
// one encoding for both buckets).
func TestFinishedKeyEncodesLikeRecordKey(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"BACKFILL-000001", "contacts-3f2a9c1d4e-000002", "a.b.c", "spring..2026.-000001", "has space", "ünï", "_x", ".x", "a=b", "a/b", "a*", "a>"} {
		if got, want := jobs.FinishedKey(id), backfill.RecordKey(id); got != want {
			t.Errorf("FinishedKey(%q) = %q, RecordKey %q", id, got, want)
		}
	}
}
