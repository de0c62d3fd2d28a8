package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WrapLaneConsumers makes r wrap every lane consumer it binds with f (a
// test's fault injection, such as lost acks). Call it before Run.
func WrapLaneConsumers(r *Runner, f func(jetstream.Consumer) jetstream.Consumer) { r.wrapLane = f }

// MoveEveryJob makes r move every job onto its lane, so it runs from its
// lane consumer even when a slot is free. Call it before Run.
func MoveEveryJob(r *Runner) { r.moveAll = true }

// EnsureLocksTTL is EnsureLocks with entries living ttl, and locks that
// wait at most wait (and refresh every wait/3).
func EnsureLocksTTL(ctx context.Context, js jetstream.JetStream, ttl, wait time.Duration) (*Locks, error) {
	kv, err := ensureLocks(ctx, js, 1, ttl)
	if err != nil {
		return nil, err
	}
	return &Locks{kv: kv, ttl: wait}, nil
}

// Abandon stops refreshing k without releasing it, as a crashed holder;
// it fails t if the refresher has not stopped within 10 s.
func (k *Lock) Abandon(t testing.TB) {
	t.Helper()
	close(k.stop)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the lock's refresher did not stop within 10s of Abandon")
	}
}
