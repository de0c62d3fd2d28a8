package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"crmsync/internal/jobs"
)

// refuseResults makes CRMSYNC_RESULTS refuse every result (a max message
// size of 64 bytes) or, with refuse false, take them again.
func (b *bundle) refuseResults(t *testing.T, refuse bool) {
	t.Helper()
	ctx := context.Background()
	s, err := b.js.Stream(ctx, jobs.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgSize = -1
	if refuse {
		cfg.MaxMsgSize = 64
	}
	if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// deliveries is how often the klipy/default/live lane (where the test's
// job runs) has delivered messages so far.
func (b *bundle) deliveries(t *testing.T) uint64 {
	t.Helper()
	info := b.laneInfo(t, "crmsync-lane-klipy-default-live")
	if info == nil {
		return 0
	}
	return info.Delivered.Consumer
}

// A job whose result cannot be published is not acked: it is delivered
// again (without redoing its items: the checkpoint has them), and its
// result arrives, once, when the results stream takes it again.
func TestResultPublishFailureKeepsTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{MaxAttempts: 1000, RetryBase: 100 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	b.viaLanes = true // deliveries counts the lane's
	b.refuseResults(t, true)
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("unpublished", "klipy", contacts("u", 3)), "unpublished")
	b.start(t)
	// Delivered a second time: the first attempt did not ack it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for b.deliveries(t) < 2 {
		select {
		case <-ctx.Done():
			t.Fatalf("the job was delivered %d times in 10s, want a redelivery: was it acked before its result was published? (%d left on the work queue, %d results)",
				b.deliveries(t), b.count(t, jobs.JobsStream), b.count(t, jobs.ResultsStream))
		case <-time.After(10 * time.Millisecond):
		}
	}
	if n := b.count(t, jobs.JobsStream); n != 1 {
		t.Fatalf("%d jobs on the work queue while its result is refused, want 1 (not acked)", n)
	}
	if n := b.count(t, jobs.ResultsStream); n != 0 {
		t.Fatalf("%d results while the stream refuses them", n)
	}
	b.refuseResults(t, false)
	r := b.results(t, 1, 10*time.Second)[0]
	if r.ID != "unpublished" || r.Status != jobs.StatusSucceeded || r.Counts.Succeeded != 3 {
		t.Errorf("result %+v", r)
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	if n := b.count(t, jobs.ResultsStream); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
	if n := b.kl.Count("PUT", "/people"); n != 3 {
		t.Errorf("PUT /people %d times, want 3: a redelivery redid items its checkpoint had", n)
	}
}

// A result that can never be published counts as a failed attempt each
// time, and WORKER_MAX_ATTEMPTS of them dead-letter the job: it never loops.
func TestUnpublishableResultDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	b.refuseResults(t, true)
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("never-fits", "klipy", contacts("n", 2)), "never-fits")
	b.start(t)
	m := b.collect(t, jobs.DLQStream, 1, 10*time.Second)[0]
	if e := m.Headers().Get(jobs.HeaderError); !strings.Contains(e, "gave up after 3 failed attempts: cannot publish the result") {
		t.Errorf("reason %q", e)
	}
	if got := m.Headers().Get(jobs.HeaderAttempts); got != "3" {
		t.Errorf("%s = %q, want 3", jobs.HeaderAttempts, got)
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	if n := b.kl.Count("PUT", "/people"); n != 2 {
		t.Errorf("PUT /people %d times, want 2", n)
	}
}
