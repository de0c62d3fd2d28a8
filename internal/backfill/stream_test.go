package backfill_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// Messages deleted between ReadStream's snapshot and its consumer's start
// must not leave it waiting for them (dlq list, status). Not parallel: it
// sets a package hook.
func TestReadStreamSnapshotOfDeletedMessagesEnds(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: jobs.DLQStream, Subjects: []string{jobs.DLQPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	pub := func(n int) {
		for range n {
			if _, err := js.Publish(ctx, jobs.DLQPrefix+"contact.upsert", []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		pub    int // messages published first
		delete func()
		want   int
	}{
		{"purged", 3, func() { s.Purge(ctx) }, 0},                      // seqs 1-3
		{"only message deleted", 1, func() { s.DeleteMsg(ctx, 4) }, 0}, // seq 4
		{"last deleted", 2, func() { s.DeleteMsg(ctx, 6) }, 1},         // seqs 5, 6
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub(tc.pub)
			t.Cleanup(backfill.SetSnapshotHook(tc.delete))
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			n := 0
			if err := backfill.ReadStream(rctx, js, jobs.DLQStream, nil, 0, true, func(jetstream.Msg) bool { n++; return true }); err != nil {
				t.Fatal(err)
			}
			if rctx.Err() != nil {
				t.Fatal("ReadStream waited until its context ended for messages deleted after the snapshot")
			}
			if n != tc.want {
				t.Errorf("%d messages, want %d", n, tc.want)
			}
		})
	}
}
