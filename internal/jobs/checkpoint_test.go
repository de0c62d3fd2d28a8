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

// requester is a fake API server's request log.
type requester interface{ Requests() []apistest.Request }

// resultResuming waits for the one job's result like results, but fails at
// once, saying what was expected, when the fake answers a second successful
// method+path request for an email it already took: a redelivered job
// must resume from its checkpoint, not redo the contacts done before.
func (b *bundle) resultResuming(t *testing.T, api requester, method, path string, timeout time.Duration) jobs.Result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for b.count(t, jobs.ResultsStream) == 0 {
		seen := map[string]bool{}
		for _, r := range api.Requests() {
			if r.Method != method || r.Path != path || r.Status < 200 || r.Status > 299 {
				continue
			}
			var body struct {
				Email string `json:"email"`
			}
			if json.Unmarshal(r.Body, &body) != nil || body.Email == "" {
				continue
			}
			if seen[body.Email] {
				t.Fatalf("%s %s for %s succeeded twice: the job did not resume from its checkpoint after a hand-back (expected each contact sent once, the done ones skipped on redelivery)", method, path, body.Email)
			}
			seen[body.Email] = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("no result in %s (%d contacts done at the API)", timeout, len(seen))
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
	return b.results(t, 1, 5*time.Second)[0]
}
