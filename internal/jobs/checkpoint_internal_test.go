package jobs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"crmsync/internal/broker/brokertest"
)

// A checkpoint too large for the server (10,000 failed items with long
// errors: about 5 MB) is stored without its items, so the attempt counts
// survive a redelivery; with NATS's default 1 MiB max payload.
func TestTooLargeCheckpointKeepsTheCounts(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t, brokertest.MaxPayload(1<<20))
	_, js := srv.Connect(t)
	kv, err := EnsureCheckpoints(context.Background(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{kv: kv, maxMsg: 1<<20 - 8<<10}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cp := &checkpoint{Failures: 5, Attempts: 6, Started: time.Now().UTC(), LastError: "klipy: 503", Items: map[int]ItemResult{}}
	for i := 0; i < 10000; i++ {
		cp.Items[i] = ItemResult{Email: fmt.Sprintf("u%d@example.com", i), Error: strings.Repeat("e", maxItemError)}.bounded()
	}
	if !r.saveCheckpoint(cp, 42, log) {
		t.Fatal("checkpoint not stored")
	}
	got, err := loadCheckpoint(context.Background(), kv, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got.Failures != 5 || got.Attempts != 6 || got.LastError != "klipy: 503" || len(got.Items) != 0 {
		t.Errorf("loaded failures %d, attempts %d, last error %q, %d items; want 5, 6, the error, none", got.Failures, got.Attempts, got.LastError, len(got.Items))
	}
	// One that fits keeps its items.
	small := &checkpoint{Failures: 1, Attempts: 1, Items: map[int]ItemResult{0: {Email: "a@example.com", OK: true}}}
	if !r.saveCheckpoint(small, 43, log) {
		t.Fatal("small checkpoint not stored")
	}
	if got, err := loadCheckpoint(context.Background(), kv, 43); err != nil || len(got.Items) != 1 {
		t.Errorf("small checkpoint: %v, %+v", err, got)
	}
}
