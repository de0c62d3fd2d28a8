package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/jobs"
)

// A running job saves its progress to CRMSYNC_CHECKPOINTS while it runs
// (every CheckpointEvery, 50 ms here), not only when it is handed back or
// the worker stops: within about a second of its first item, the bucket
// holds its done items while the job is still running.
func TestCheckpointSavedWhileTheJobRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{ShutdownGrace: 100 * time.Millisecond}})
	b.kl.SetFaults(apistest.Faults{Latency: 20 * time.Millisecond}, 1)
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("slow", "klipy", contacts("slow", 200)), "") // about 4 s
	b.start(t)
	awaitCond(t, 10*time.Second, func() bool { return len(b.kl.People()) >= 1 })
	kv, err := b.js.KeyValue(context.Background(), jobs.CheckpointBucket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		done := 0
		e, err := kv.Get(context.Background(), "msg-1")
		switch {
		case err == nil:
			var cp struct {
				Items map[string]json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(e.Value(), &cp); err != nil {
				t.Fatalf("checkpoint is not JSON: %v", err)
			}
			done = len(cp.Items)
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			t.Fatal(err)
		}
		if done > 0 {
			if n := b.count(t, jobs.ResultsStream); n != 0 || len(b.kl.People()) == 200 {
				t.Fatalf("the job finished before its checkpoint was seen (%d results): the test proves nothing", n)
			}
			t.Logf("checkpoint holds %d items while %d people are in", done, len(b.kl.People()))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress in %s 1.5 s after the job's first item (%d of 200 done at the API): the running job saves no checkpoint", jobs.CheckpointBucket, len(b.kl.People()))
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
}
