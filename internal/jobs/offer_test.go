package jobs_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// A job published onto an idle pool starts straight from the intake: its
// lane never carries it. Jobs that find the slot busy are moved onto their
// lane and run from there, in order, once it frees.
func TestIdleSlotStartsJobFromTheIntake(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 1, LiveSlots: -1}})
	rc := newRecorder()
	release := make(chan struct{})
	rc.gate = func(j *jobs.Job) <-chan struct{} {
		if j.ID == "first" {
			return release
		}
		return nil
	}
	b.startWith(t, rc)
	const lane = "crmsync-lane-klipy-default-live"
	b.publishP(t, upsert("first", "klipy", contacts("first-", 2)), "")
	rc.awaitStart(t, "first", 20*time.Second)
	if info := b.laneInfo(t, lane); info == nil || info.Delivered.Consumer != 0 || info.NumPending != 0 {
		t.Fatalf("lane %s while the first job runs: %s, want nothing delivered or pending: the job on the idle slot went through its lane", lane, laneCounts(info))
	}
	for i := range 2 {
		b.publishP(t, upsert(fmt.Sprintf("queued-%d", i), "klipy", contacts(fmt.Sprintf("q%d-", i), 2)), "")
	}
	// Both wait on the lane (fetched: the head and the one behind it).
	awaitCond(t, 20*time.Second, func() bool {
		info := b.laneInfo(t, lane)
		return info != nil && info.NumAckPending+int(info.NumPending) == 2
	})
	close(release)
	b.results(t, 3, 30*time.Second)
	if got, want := rc.order(), []string{"first", "queued-0", "queued-1"}; !slices.Equal(got, want) {
		t.Errorf("start order %v, want %v", got, want)
	}
	if info := b.laneInfo(t, lane); info == nil || info.Delivered.Consumer != 2 {
		t.Errorf("lane %s: %s, want the 2 queued jobs delivered", lane, laneCounts(info))
	}
}

func laneCounts(info *jetstream.ConsumerInfo) string {
	if info == nil {
		return "no consumer"
	}
	return fmt.Sprintf("%d delivered, %d pending", info.Delivered.Consumer, info.NumPending)
}
