package limiter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the JetStream KV bucket the replicas share limits through.
const Bucket = "CRMSYNC_LIMITS"

// BucketTTL is how long an untouched credential's state is kept. It must
// exceed any MaxBlock in use.
const BucketTTL = 24 * time.Hour

const (
	// maxCAS bounds compare-and-set attempts per grant or publish.
	maxCAS = 8
)

// EnsureBucket creates the KV bucket CRMSYNC_LIMITS, or updates its
// configuration, and returns it. It is idempotent. The bucket keeps one
// revision per key, on file storage (so a broker restart keeps current
// blocks) with replicas replicas (at least 1; STREAM_REPLICAS), and drops
// keys untouched for BucketTTL. Errors come from JetStream, wrapped.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "crmsync rate-limit state per API credential (internal/limiter)",
		History:     1,
		TTL:         BucketTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("limiter: ensure KV bucket %s: %w", Bucket, err)
	}
	return kv, nil
}

// kvSkew is the clock skew between replicas (and the API) tolerated in
// values read from KV before they count as out of bounds.
const kvSkew = 5 * time.Second

// liveMargin is how long past the moment a waiting live request expects its
// token the fleet's backfill requests keep holding off (the time it takes
// the live replica to wake and write its grant).
const liveMargin = 50 * time.Millisecond

// leaseTTL is how long tokens taken from the fleet bucket in one grant for
// this process's other waiters stay usable; unused ones are dropped.
const leaseTTL = 50 * time.Millisecond

// shared keeps a Limiter's state in one KV key, "<api>.<credential hash>":
// grants advance it by compare-and-set, observations join into it, and the
// link's watch joins everyone else's writes into the local state.
type shared struct {
	l   *Limiter
	k   *link
	key string
	own bool // the link serves this limiter alone and closes with it

	// Guarded by l.mu.
	remote state  // the value at rev, as last read or written (bounded)
	rev    uint64 // 0: key not known to exist
	repair bool   // the value at rev was out of bounds: overwrite it
	closed bool
}

func newShared(l *Limiter, k *link, key string, own bool) *shared {
	s := &shared{l: l, k: k, key: key, own: own}
	k.subscribe(s)
	return s
}

func (s *shared) active() bool {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.activeLocked()
}

// activeLocked reports whether KV is to be used now. l.mu is held.
func (s *shared) activeLocked() bool {
	return !s.closed && s.k.active()
}

// behindLocked reports whether KV is in use and lacks something this
// process knows (a block or pacing seen here, or seen while KV was down), or
// holds a value out of bounds. l.mu is held.
func (s *shared) behindLocked() bool {
	return s.activeLocked() && (s.repair || join(s.remote, s.l.st) != s.remote)
}

// acquire takes a slot from the shared state by compare-and-set, and with
// it, when other requests of this process wait too and the fleet bucket has
// the tokens, a lease of more (see leaseSizeLocked). A live request that
// must wait announces it (LiveUntil) so that backfill requests of every
// replica hold off. done is false when KV failed and the caller should fall
// back to local limiting.
func (s *shared) acquire(ctx context.Context, backfill bool, deadline time.Time) (g grant, err error, done bool) {
	l := s.l
	for range maxCAS {
		l.mu.Lock()
		now := l.clock.Now()
		if at, cause := l.readyLocked(now, true, backfill); at.After(now) {
			g := grant{now: now, at: at, cause: cause, changed: l.changed}
			announce := !backfill && !at.After(deadline) && l.st.LiveUntil < at.UnixNano()
			next, rev := l.st, s.rev
			next.LiveUntil = at.Add(liveMargin).UnixNano()
			l.mu.Unlock()
			if announce {
				s.announce(ctx, next, rev)
			}
			return g, nil, true
		}
		n := l.leaseSizeLocked(now, backfill)
		next, rev := l.st.taken(now, l.interval, n), s.rev
		l.mu.Unlock()

		newRev, err := s.put(ctx, next, rev)
		switch {
		case err == nil:
			l.mu.Lock()
			s.wroteLocked(next, newRev)
			l.st = join(l.st, next)
			l.takenLocked(now, backfill)
			if n > 1 {
				l.leased, l.leaseUntil = n-1, now.Add(leaseTTL)
				l.wakeLocked()
			}
			l.mu.Unlock()
			return grant{ok: true, now: now}, nil, true
		case ctx.Err() != nil:
			return grant{}, ctx.Err(), true
		case isConflict(err):
			if err := s.refresh(ctx); err != nil {
				s.k.fail(err)
				return grant{}, nil, false
			}
		default:
			s.k.fail(err)
			return grant{}, nil, false
		}
	}
	// Lost every race: let the others go first and try again shortly.
	now := l.clock.Now()
	return grant{now: now, at: now.Add(min(l.interval, 50*time.Millisecond)), cause: CauseRate}, nil, true
}

// announce writes a live request's demand (next holds LiveUntil) once; a
// lost race is left alone (the winner's write is the newer state).
func (s *shared) announce(ctx context.Context, next state, rev uint64) {
	newRev, err := s.put(ctx, next, rev)
	l := s.l
	switch {
	case err == nil:
		l.mu.Lock()
		s.wroteLocked(next, newRev)
		l.mergeLocked(next, l.clock.Now())
		l.mu.Unlock()
	case ctx.Err() != nil, isConflict(err):
	default:
		s.k.fail(err)
	}
}

// publishIfBehind publishes when KV lacks something this process knows.
func (s *shared) publishIfBehind() {
	s.l.mu.Lock()
	behind := s.behindLocked()
	s.l.mu.Unlock()
	if behind {
		s.publish()
	}
}

// publish writes the effective state to KV when it holds anything KV lacks
// (or KV's value is out of bounds).
func (s *shared) publish() {
	l := s.l
	ctx := s.k.ctx
	for range maxCAS {
		l.mu.Lock()
		next := join(s.remote, l.st)
		if !s.activeLocked() || (next == s.remote && !s.repair) {
			l.mu.Unlock()
			return
		}
		rev := s.rev
		l.mu.Unlock()

		newRev, err := s.put(ctx, next, rev)
		switch {
		case err == nil:
			l.mu.Lock()
			s.wroteLocked(next, newRev)
			l.mu.Unlock()
			return
		case ctx.Err() != nil:
			return
		case isConflict(err):
			if err := s.refresh(ctx); err != nil {
				s.k.fail(err)
				return
			}
		default:
			s.k.fail(err)
			return
		}
	}
	l.log.Debug("limiter: gave up publishing to KV after repeated conflicts")
}

// put writes st at rev (creating the key when rev is 0).
func (s *shared) put(ctx context.Context, st state, rev uint64) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.k.timeout)
	defer cancel()
	if rev == 0 {
		return s.k.kv.Create(ctx, s.key, b)
	}
	return s.k.kv.Update(ctx, s.key, b, rev)
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// refresh reads the key and joins it into the local state.
func (s *shared) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.k.timeout)
	defer cancel()
	e, err := s.k.kv.Get(ctx, s.key)
	l := s.l
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		l.mu.Lock()
		s.remote, s.rev, s.repair = state{}, 0, false
		l.mu.Unlock()
		return nil
	case err != nil:
		return err
	}
	s.apply(entry{value: e.Value(), rev: e.Revision()}, true)
	return nil
}

// apply joins a KV value into the local state, bounded first (see
// boundLocked): a value from KV is never trusted further than an API's own
// answer. exact says the value is the key's latest (a Get), so it replaces
// remote even if rev went back. It reports whether the value was out of
// bounds and should be overwritten.
func (s *shared) apply(e entry, exact bool) bool {
	l := s.l
	raw := s.k.decode(s.key, e.value)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	st := l.boundLocked(raw, now)
	if st != raw {
		l.log.Warn("limiter: rate-limit state in KV is out of bounds (clock skew or a foreign write); capped it",
			"key", s.key, "max_block", l.maxBlock)
	}
	if exact || e.rev > s.rev {
		s.remote, s.rev, s.repair = st, e.rev, st != raw
	}
	l.mergeLocked(st, now)
	return s.repair && s.activeLocked()
}

// wroteLocked records a successful write and leaves degraded mode. l.mu is held.
func (s *shared) wroteLocked(st state, rev uint64) {
	if rev > s.rev {
		s.remote, s.rev, s.repair = st, rev, false
	}
	s.k.ok()
}

// close detaches the limiter from the watch (stopping it when the link is
// its own); KV is not used afterwards.
func (s *shared) close() {
	s.k.unsubscribe(s)
	if s.own {
		s.k.close()
	}
	s.l.mu.Lock()
	s.closed = true
	s.l.mu.Unlock()
}
