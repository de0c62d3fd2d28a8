package backfill_test

import (
	"context"
	"testing"

	"crmsync/internal/backfill"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// Queued counts the jobs waiting at the backfill's intake subject and on
// its credential's lanes, and nothing elsewhere.
func TestQueuedByLane(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	if _, err := jobs.Setup(ctx, js, jobs.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	pub := func(subject string, n int) {
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx, subject, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub("crmsync.jobs.contact.upsert", 2)
	pub("crmsync.lanes.klicktipp.acme.backfill", 3)
	pub("crmsync.lanes.klicktipp.acme.live", 1)
	pub("crmsync.lanes.klicktipp.other.backfill", 5) // another account's lane
	pub("crmsync.jobs.email.validate", 4)            // another kind's intake
	qs, err := backfill.Queued(ctx, js, &backfill.Record{Kind: jobs.KindContactUpsert, Target: "klicktipp", Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	want := []backfill.Queue{{Where: "intake", Jobs: 2}, {Where: "klicktipp/acme/live", Jobs: 1}, {Where: "klicktipp/acme/backfill", Jobs: 3}}
	if len(qs) != len(want) {
		t.Fatalf("queues %v, want %v", qs, want)
	}
	for i := range want {
		if qs[i] != want[i] {
			t.Errorf("queue %d = %v, want %v", i, qs[i], want[i])
		}
	}
}
