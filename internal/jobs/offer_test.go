package jobs_test

import (
	"context"
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

// An intake message delivered again after it was moved (its ack lost)
// does not start its job from the intake while the job runs from its
// lane, even with a slot free: the move is repeated, the lane publish is
// deduplicated, and the job runs once.
func TestRedeliveredIntakeMessageDoesNotStartTwice(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 2, LiveSlots: -1, AckWait: time.Second}})
	// Only the third intake message (job "moved") loses its ack.
	lossy := &lossyConsumer{lost: map[uint64]bool{1: true, 2: true}}
	b.cons = lossy.wrap(b.cons)
	rc := newRecorder()
	gates := map[string]chan struct{}{"blocker-a": make(chan struct{}), "blocker-b": make(chan struct{}), "moved": make(chan struct{})}
	rc.gate = func(j *jobs.Job) <-chan struct{} { return gates[j.ID] }
	b.startWith(t, rc)
	for _, id := range []string{"blocker-a", "blocker-b"} {
		b.publishP(t, upsert(id, "klipy", contacts(id+"-", 1)), "")
		rc.awaitStart(t, id, 20*time.Second)
	}
	b.publishP(t, upsert("moved", "klipy", contacts("moved-", 1)), "") // both slots busy: moved
	awaitCond(t, 20*time.Second, func() bool { return lossy.losses() == 3 })
	close(gates["blocker-a"])
	rc.awaitStart(t, "moved", 20*time.Second) // from its lane
	close(gates["blocker-b"])                 // a slot free when the intake message comes back
	starts := func() int {
		n := 0
		for _, id := range rc.order() {
			if id == "moved" {
				n++
			}
		}
		return n
	}
	// The intake message comes back after the ack wait: acked, or (wrong)
	// started a second time.
	awaitCond(t, 20*time.Second, func() bool {
		info, err := b.cons.Info(context.Background())
		return starts() > 1 || err == nil && info.Delivered.Consumer >= 4 && info.NumAckPending == 0
	})
	if n := starts(); n != 1 {
		t.Fatalf("job started %d times (%v), want once: its redelivered intake message started it beside its lane's run", n, rc.order())
	}
	close(gates["moved"])
	b.results(t, 3, 30*time.Second)
	if n := starts(); n != 1 {
		t.Errorf("job started %d times (%v), want once", n, rc.order())
	}
}
