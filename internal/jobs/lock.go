package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LocksBucket is the KV bucket of short-lived fleet-wide locks: a replica
// holds one while it does what must happen once across all replicas
// (today: creating a KlickTipp tag, key "klicktipp.<credential hash>.tag.<name
// hash>"). Keys never hold a secret or a customer's data, only hashes.
const LocksBucket = "CRMSYNC_LOCKS"

// LockTTL is how long a lock lives after it was taken or last refreshed. Its
// holder refreshes it every LockTTL/3, so only a replica that crashed (or
// lost the broker) loses it, at most LockTTL later.
const LockTTL = 15 * time.Second

// EnsureLocks creates or updates LocksBucket (idempotent): memory storage,
// one revision per key, every entry expiring LockTTL after it was written,
// with a marker when it does so that waiters learn of it at once.
func EnsureLocks(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return ensureLocks(ctx, js, replicas, LockTTL)
}

func ensureLocks(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (jetstream.KeyValue, error) {
	return ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:         LocksBucket,
		Description:    "crmsync short-lived fleet-wide locks (tag creation), by hashed key",
		TTL:            ttl,
		LimitMarkerTTL: ttl,
		Storage:        jetstream.MemoryStorage,
	}, replicas)
}

// Locks takes locks in LocksBucket (the kv of EnsureLocks). It is safe for
// concurrent use; a nil *Locks is not usable.
type Locks struct {
	kv  jetstream.KeyValue
	ttl time.Duration
}

// NewLocks returns the locks of kv.
func NewLocks(kv jetstream.KeyValue) *Locks { return &Locks{kv: kv, ttl: LockTTL} }

// Lock is a held lock; Release it when done.
type Lock struct {
	l    *Locks
	key  string
	mu   sync.Mutex
	rev  uint64
	stop chan struct{}
	done chan struct{}
}

var lockValue = []byte("held")

// TryLock takes the lock key when no one holds it and returns it, refreshed
// until Release; it returns nil, nil when another holder has it. Errors
// come from JetStream.
func (l *Locks) TryLock(ctx context.Context, key string) (*Lock, error) {
	rev, err := l.kv.Create(ctx, key, lockValue)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: lock: %w", LocksBucket, err)
	}
	k := &Lock{l: l, key: key, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
	go k.refresh()
	return k, nil
}

// refresh rewrites the lock every ttl/3 (restarting its TTL) until Release,
// or until it was lost (expired and maybe taken by another).
func (k *Lock) refresh() {
	defer close(k.done)
	t := time.NewTicker(k.l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.l.ttl/3)
		k.mu.Lock()
		rev, err := k.l.kv.Update(ctx, k.key, lockValue, k.rev)
		if err == nil {
			k.rev = rev
		}
		k.mu.Unlock()
		cancel()
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return // lost: expired, perhaps taken by another
		}
	}
}

// Release stops refreshing the lock and deletes it if it is still this
// holder's, so that waiters go on at once. If the delete fails the lock
// expires within LockTTL.
func (k *Lock) Release() {
	close(k.stop)
	<-k.done
	ctx, cancel := context.WithTimeout(context.Background(), k.l.ttl/3)
	defer cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	_ = k.l.kv.Delete(ctx, k.key, jetstream.LastRevision(k.rev))
}

// Wait blocks until the lock key is free (released, expired, or never
// taken), at most LockTTL (a lost expiry marker cannot hold a waiter
// longer), or until ctx ends (its error). Other errors come from JetStream.
func (l *Locks) Wait(ctx context.Context, key string) error {
	wctx, cancel := context.WithTimeout(ctx, l.ttl)
	defer cancel()
	w, err := l.kv.Watch(wctx, key)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("kv %s: watch: %w", LocksBucket, err)
	}
	defer func() { _ = w.Stop() }()
	held := false
	for {
		select {
		case <-wctx.Done():
			return ctx.Err() // nil after LockTTL: the lock has expired by now
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return ctx.Err()
			case e == nil: // the current state has been delivered
				if !held {
					return nil
				}
			case e.Operation() == jetstream.KeyValuePut:
				held = true
			default: // released, or expired
				return nil
			}
		}
	}
}
