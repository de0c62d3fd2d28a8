package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/jobs"
)

// TestTagCreatedOnceAcrossReplicas: two replicas, each with its own
// handler (so its own per-process lock), share CRMSYNC_LOCKS. Against an
// API that creates a second tag of an existing name, many jobs naming the
// same new tag at once create it exactly once, and every contact carries
// that one id. Without the fleet lock both replicas create it.
func TestTagCreatedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 4}})
	kt := klicktipptest.NewServer(klicktipptest.WithDuplicateTagsCreated())
	t.Cleanup(kt.Close)
	// Slow answers keep both replicas between their GET /tag and POST /tag
	// at once: without the fleet lock, both create.
	kt.SetFaults(apistest.Faults{Latency: 20 * time.Millisecond}, 1)
	kv, err := jobs.EnsureLocks(context.Background(), b.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	locks := jobs.NewLocks(kv)

	const njobs, per = 16, 2
	for i := range njobs {
		cs := contacts(fmt.Sprintf("tag%d-", i), per)
		for _, c := range cs {
			c["tags"] = []any{"Launch-2026", "newsletter"}
		}
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("tag-%d", i), "klicktipp", cs), "")
	}
	for replica := 1; replica <= 2; replica++ {
		hc := apis.NewHTTPClient(5 * time.Second)
		t.Cleanup(hc.CloseIdleConnections)
		c, err := klicktipp.New(klicktipp.Config{BaseURL: kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		h := &jobs.KlickTippUpsert{Client: c, CreateTags: true, Locks: locks, Credential: klicktipptest.Username}
		r, err := jobs.NewRunner(b.js, b.cons, nil, jobs.RouterFunc(func(*jobs.Job) (jobs.Handler, error) { return h, nil }), b.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("replica %d: %v", replica, err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("replica %d did not stop", replica)
			}
		})
	}
	for _, r := range b.results(t, njobs, 60*time.Second) {
		if r.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: %s %+v", r.ID, r.Status, r.Items)
		}
	}
	var ids []int64
	for id, name := range kt.Tags() {
		if strings.EqualFold(name, "launch-2026") {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%d tags named Launch-2026 (%v) after %d POST /tag, want exactly 1", len(ids), ids, kt.Count("POST", "/tag"))
	}
	subs := kt.Subscribers()
	if len(subs) != njobs*per {
		t.Fatalf("%d contacts, want %d", len(subs), njobs*per)
	}
	for _, s := range subs {
		if !contains(s.Tags, ids[0]) || !contains(s.Tags, klicktipptest.TagNewsletter) {
			t.Errorf("%s has tags %v, want %d and %d", s.Email, s.Tags, ids[0], klicktipptest.TagNewsletter)
		}
	}
}

// TestLockWaitReleased: a held lock refuses a second holder; a waiter
// returns when it is released (from the watch, not by polling), and at once
// for a lock never taken.
func TestLockWaitReleased(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	kv, err := jobs.EnsureLocks(context.Background(), b.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	locks := jobs.NewLocks(kv)
	ctx := context.Background()
	held, err := locks.TryLock(ctx, "k.a")
	if err != nil || held == nil {
		t.Fatalf("TryLock = %v, %v", held, err)
	}
	if again, err := locks.TryLock(ctx, "k.a"); err != nil || again != nil {
		t.Fatalf("second TryLock = %v, %v; want nil, nil", again, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- locks.Wait(ctx, "k.a") }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v while the lock is held", err)
	case <-time.After(100 * time.Millisecond): // not an event: checks that nothing happens
	}
	held.Release()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Release")
	}
	again, err := locks.TryLock(ctx, "k.a")
	if err != nil || again == nil {
		t.Fatalf("TryLock after Release = %v, %v", again, err)
	}
	again.Release()
	if err := locks.Wait(ctx, "k.never"); err != nil {
		t.Fatalf("Wait on a free lock = %v", err)
	}
}

// TestLockExpires: a lock whose holder stopped refreshing it (a crashed
// replica) frees itself after the bucket's TTL, and a waiter learns of it
// from the expiry marker, long before its own bound.
func TestLockExpires(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	ctx := context.Background()
	locks, err := jobs.EnsureLocksTTL(ctx, b.js, time.Second, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	held, err := locks.TryLock(ctx, "k.crashed")
	if err != nil || held == nil {
		t.Fatalf("TryLock = %v, %v", held, err)
	}
	held.Abandon(t)
	waited := make(chan error, 1)
	go func() { waited <- locks.Wait(ctx, "k.crashed") }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return after the abandoned lock's TTL (1 s)")
	}
	again, err := locks.TryLock(ctx, "k.crashed")
	if err != nil || again == nil {
		t.Fatalf("TryLock after expiry = %v, %v", again, err)
	}
	again.Release()
}

func contains(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
