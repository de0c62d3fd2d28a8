package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"crmsync/internal/backfill"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// BenchmarkPublish measures a 100,000-contact backfill (500 jobs of 200)
// published to an embedded server, without the bucket of finished jobs
// (as before it existed) and with it (every job is looked up there before
// it is sent).
func BenchmarkPublish(b *testing.B) {
	b.Run("without-finished-bucket", func(b *testing.B) { benchPublish(b, false) })
	b.Run("with-finished-bucket", func(b *testing.B) { benchPublish(b, true) })
}

func benchPublish(b *testing.B, finished bool) {
	srv := brokertest.Start(b)
	nc, js := srv.Connect(b)
	ctx := context.Background()
	if _, err := jobs.Setup(ctx, js, jobs.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	if finished {
		if _, err := jobs.EnsureFinished(ctx, js, time.Hour, 1); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&buf, `{"email":"user%d@example.com","fields":{"fieldFirstName":"F%d"}}`+"\n", i, i)
	}
	data := buf.Bytes()
	spec := backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp, Batch: 200}
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		n++
		st := &backfill.Stats{}
		r := backfill.NewJSONLReader(bytes.NewReader(data), spec)
		if err := backfill.Publish(ctx, nc, spec.Kind, r, backfill.NewChunker(fmt.Sprintf("bench%d", n), spec), backfill.Options{Stats: st}); err != nil {
			b.Fatal(err)
		}
		if st.Published.Load() != 500 {
			b.Fatalf("%d published", st.Published.Load())
		}
		s, err := js.Stream(ctx, jobs.JobsStream)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Purge(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// Jobs with a final result in CRMSYNC_FINISHED are counted as Done and not
// sent; the others are sent in order. A dead-lettered job's entry under
// another Nats-Msg-Id (its `dlq replay` failed again) does not stop a
// re-run: only the entry of the job as enqueue sends it does.
func TestPublishSkipsFinishedJobs(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	nc, js := srv.Connect(t)
	ctx := context.Background()
	if _, err := jobs.Setup(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	kv, err := jobs.EnsureFinished(ctx, js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	mark := func(n int, f jobs.Finish) {
		b, _ := json.Marshal(f)
		if _, err := kv.Put(ctx, jobs.FinishedKey(backfill.JobID("fin", n)), b); err != nil {
			t.Fatal(err)
		}
	}
	mark(3, jobs.Finish{Status: jobs.StatusSucceeded})
	mark(10, jobs.Finish{Status: jobs.StatusFailed, DeadLettered: true, MsgID: backfill.JobID("fin", 10)})
	mark(15, jobs.Finish{Status: jobs.StatusPartial})
	mark(5, jobs.Finish{Status: jobs.StatusFailed, DeadLettered: true, MsgID: backfill.JobID("fin", 5) + "-replay-7"})
	var in bytes.Buffer
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&in, "u%d@uni.example\n", i)
	}
	spec := backfill.Spec{Kind: jobs.KindEmailValidate, TargetGroupIDs: []string{"tg_uni"}, Batch: 1}
	st := &backfill.Stats{}
	if err := backfill.Publish(ctx, nc, spec.Kind, backfill.NewTextReader(&in, spec), backfill.NewChunker("fin", spec), backfill.Options{Stats: st}); err != nil {
		t.Fatal(err)
	}
	if st.Jobs.Load() != 20 || st.Done.Load() != 3 || st.Published.Load() != 17 {
		t.Errorf("%d jobs, %d done, %d published; want 20, 3, 17", st.Jobs.Load(), st.Done.Load(), st.Published.Load())
	}
	s, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for seq := uint64(1); seq <= 17; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		n, _ := backfill.JobNumber("fin", m.Header.Get(jobs.HeaderMsgID))
		got = append(got, n)
	}
	want := []int{1, 2, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19, 20}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("jobs sent %v, want %v", got, want)
	}
}
