package limiter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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

// shared keeps a Limiter's state in one KV key, "<api>.<credential hash>":
// grants advance it by compare-and-set, observations join into it, and a
// watch joins everyone else's writes into the local state.
type shared struct {
	l       *Limiter
	kv      jetstream.KeyValue
	key     string
	timeout time.Duration
	retry   time.Duration   // wall time between KV attempts after a failure
	ctx     context.Context // ends on close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Guarded by l.mu.
	remote   state  // the value at rev, as last read or written
	rev      uint64 // 0: key not known to exist
	degraded bool
	retryAt  time.Time // wall time; KV is tried again after it
	closed   bool
}

func newShared(l *Limiter, kv jetstream.KeyValue, key string, timeout, retry time.Duration) *shared {
	s := &shared{l: l, kv: kv, key: key, timeout: timeout, retry: retry}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.watch()
	return s
}

func (s *shared) active() bool {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.activeLocked()
}

// activeLocked reports whether KV is to be used now. l.mu is held.
func (s *shared) activeLocked() bool {
	return !s.closed && (!s.degraded || time.Now().After(s.retryAt))
}

// behindLocked reports whether KV is in use and lacks something this
// process knows (a block or pacing seen here, or seen while KV was down).
// l.mu is held.
func (s *shared) behindLocked() bool {
	return s.activeLocked() && join(s.remote, s.l.st) != s.remote
}

// acquire takes a slot from the shared state by compare-and-set. done is
// false when KV failed and the caller should fall back to local limiting.
func (s *shared) acquire(ctx context.Context) (g grant, err error, done bool) {
	l := s.l
	for range maxCAS {
		l.mu.Lock()
		now := l.clock.Now()
		if at, cause := l.readyLocked(now, true); at.After(now) {
			g := grant{now: now, at: at, cause: cause, changed: l.changed}
			l.mu.Unlock()
			return g, nil, true
		}
		next, rev := l.st.taken(now, l.interval, true), s.rev
		l.mu.Unlock()

		newRev, err := s.put(ctx, next, rev)
		switch {
		case err == nil:
			l.mu.Lock()
			s.wroteLocked(next, newRev)
			l.st = join(l.st, next)
			l.takenLocked(now)
			l.mu.Unlock()
			return grant{ok: true, now: now}, nil, true
		case ctx.Err() != nil:
			return grant{}, ctx.Err(), true
		case isConflict(err):
			if err := s.refresh(ctx); err != nil {
				s.degrade(err)
				return grant{}, nil, false
			}
		default:
			s.degrade(err)
			return grant{}, nil, false
		}
	}
	// Lost every race: let the others go first and try again shortly.
	now := l.clock.Now()
	return grant{now: now, at: now.Add(min(l.interval, 50*time.Millisecond)), cause: CauseRate}, nil, true
}

// publish writes the effective state to KV when it holds anything KV lacks.
func (s *shared) publish() {
	l := s.l
	for range maxCAS {
		l.mu.Lock()
		next := join(s.remote, l.st)
		if !s.activeLocked() || next == s.remote {
			l.mu.Unlock()
			return
		}
		rev := s.rev
		l.mu.Unlock()

		newRev, err := s.put(s.ctx, next, rev)
		switch {
		case err == nil:
			l.mu.Lock()
			s.wroteLocked(next, newRev)
			l.mu.Unlock()
			return
		case s.ctx.Err() != nil:
			return
		case isConflict(err):
			if err := s.refresh(s.ctx); err != nil {
				s.degrade(err)
				return
			}
		default:
			s.degrade(err)
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
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if rev == 0 {
		return s.kv.Create(ctx, s.key, b)
	}
	return s.kv.Update(ctx, s.key, b, rev)
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// refresh reads the key and joins it into the local state.
func (s *shared) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, s.key)
	l := s.l
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		l.mu.Lock()
		s.remote, s.rev = state{}, 0
		l.mu.Unlock()
		return nil
	case err != nil:
		return err
	}
	s.apply(e, true)
	return nil
}

// apply joins a KV entry into the local state. exact says the entry is the
// key's latest value (a Get), so it replaces remote even if rev went back.
func (s *shared) apply(e jetstream.KeyValueEntry, exact bool) {
	l := s.l
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		l.log.Debug("limiter: ignoring undecodable KV value", "key", e.Key(), "err", err)
		st = state{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if exact || e.Revision() > s.rev {
		s.remote, s.rev = st, e.Revision()
	}
	l.mergeLocked(st, l.clock.Now())
}

// wroteLocked records a successful write and leaves degraded mode. l.mu is held.
func (s *shared) wroteLocked(st state, rev uint64) {
	if rev > s.rev {
		s.remote, s.rev = st, rev
	}
	if s.degraded {
		s.degraded = false
		s.l.log.Info("limiter: shared limits in NATS KV available again")
	}
}

// degrade switches to local limiting for s.retry, warning once per
// outage.
func (s *shared) degrade(err error) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return
	}
	if !s.degraded {
		l.log.Warn("limiter: shared limits in NATS KV unavailable; limiting this replica locally until it is back", "err", err)
	}
	s.degraded = true
	s.retryAt = time.Now().Add(s.retry)
}

// watch joins every write to the key into the local state until close,
// re-establishing the watch after failures.
func (s *shared) watch() {
	defer s.wg.Done()
	for {
		w, err := s.kv.Watch(s.ctx, s.key)
		if err == nil {
			s.publish() // whatever was seen while the watch was down
			s.consume(w)
			_ = w.Stop()
		} else if s.ctx.Err() == nil {
			s.degrade(err)
		}
		if s.ctx.Err() != nil {
			return
		}
		t := time.NewTimer(s.retry)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// consume joins watched entries until the watch ends, and re-reads the key
// every s.retry in case the watch missed something (after a broker restart
// an ordered consumer takes a few heartbeats to notice).
func (s *shared) consume(w jetstream.KeyWatcher) {
	resync := time.NewTicker(s.retry)
	defer resync.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-resync.C:
			if s.active() {
				if err := s.refresh(s.ctx); err != nil && s.ctx.Err() == nil {
					s.degrade(err)
				}
			}
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				s.apply(e, false)
			}
		}
	}
}

// close stops the watch and waits for it; KV is not used afterwards.
func (s *shared) close() {
	s.cancel()
	s.wg.Wait()
	s.l.mu.Lock()
	s.closed = true
	s.l.mu.Unlock()
}
