package backfill_test

import (
	"bytes"
	"context"
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
