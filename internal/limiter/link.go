package limiter

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// link connects limiters to the KV bucket: one watch over their keys (a
// single key for a Limiter made by New, the whole bucket for a Registry's)
// and the health of KV as this process sees it. A Registry's limiters share
// one link, so a process holds one KV watch (one JetStream consumer and one
// goroutine) however many credentials it serves, and one KV outage is
// warned about once.
type link struct {
	kv      jetstream.KeyValue
	key     string // "" watches every key
	timeout time.Duration
	retry   time.Duration
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	degraded atomic.Bool
	retryAt  atomic.Int64 // wall Unix ns; KV is tried again after it
	fails    atomic.Int64 // KV failures so far; a new one restarts the watch

	mu   sync.Mutex
	subs map[string]*shared
	seen map[string]entry // latest value of watched keys no limiter serves yet
}

// entry is a KV value and its revision.
type entry struct {
	value []byte
	rev   uint64
}

func newLink(kv jetstream.KeyValue, key string, timeout, retry time.Duration, log *slog.Logger) *link {
	k := &link{kv: kv, key: key, timeout: timeout, retry: retry, log: log,
		subs: map[string]*shared{}, seen: map[string]entry{}}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	k.wg.Add(1)
	go k.watch()
	return k
}

// active reports whether KV is to be used now.
func (k *link) active() bool {
	return !k.degraded.Load() || time.Now().UnixNano() > k.retryAt.Load()
}

// fail switches every limiter of the link to local limiting for k.retry,
// warning once per outage (once per API the link serves, so that each
// API's log shows its outage).
func (k *link) fail(err error) {
	if k.ctx.Err() != nil {
		return
	}
	k.retryAt.Store(time.Now().Add(k.retry).UnixNano())
	k.fails.Add(1)
	if !k.degraded.Swap(true) {
		k.logEach(slog.LevelWarn, "limiter: shared limits in NATS KV unavailable; limiting this replica locally until it is back", "err", err)
	}
}

// ok records a successful KV operation and leaves degraded mode.
func (k *link) ok() {
	if k.degraded.Load() && k.degraded.Swap(false) {
		k.logEach(slog.LevelInfo, "limiter: shared limits in NATS KV available again")
	}
}

// logEach logs msg once for each API among the link's limiters (a
// Registry's link; a Limiter's own logger names its API already).
func (k *link) logEach(level slog.Level, msg string, args ...any) {
	var names []string
	if k.key == "" {
		k.mu.Lock()
		seen := map[string]bool{}
		for _, s := range k.subs {
			if !seen[s.l.api] {
				seen[s.l.api] = true
				names = append(names, s.l.api)
			}
		}
		k.mu.Unlock()
		sort.Strings(names)
	}
	if len(names) == 0 {
		k.log.Log(context.Background(), level, msg, args...)
		return
	}
	for _, api := range names {
		k.log.Log(context.Background(), level, msg, append([]any{"api", api}, args...)...)
	}
}

// subscribe routes the key's watched values to s, starting with the latest
// one seen.
func (k *link) subscribe(s *shared) {
	k.mu.Lock()
	k.subs[s.key] = s
	e, ok := k.seen[s.key]
	delete(k.seen, s.key)
	k.mu.Unlock()
	if ok {
		s.apply(e, false)
	}
}

func (k *link) unsubscribe(s *shared) {
	k.mu.Lock()
	if k.subs[s.key] == s {
		delete(k.subs, s.key)
	}
	k.mu.Unlock()
}

// watch joins every write to the watched keys into their limiters until
// close, re-establishing the watch after failures.
func (k *link) watch() {
	defer k.wg.Done()
	for {
		var w jetstream.KeyWatcher
		var err error
		since := k.fails.Load()
		if k.key == "" {
			w, err = k.kv.WatchAll(k.ctx)
		} else {
			w, err = k.kv.Watch(k.ctx, k.key)
		}
		if err == nil {
			k.publishAll() // whatever was seen while the watch was down
			restart := k.consume(w, since)
			// Stop deletes the consumer with a request that waits up to
			// JetStream's default timeout (5s) when the server is gone; on
			// close during an outage leave it (the connection's close
			// ends the subscription, the server drops the idle consumer).
			if k.ctx.Err() == nil || !k.degraded.Load() {
				_ = w.Stop()
			}
			if restart {
				continue
			}
		} else {
			k.fail(err)
		}
		t := time.NewTimer(k.retry)
		select {
		case <-k.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (k *link) publishAll() {
	k.mu.Lock()
	subs := make([]*shared, 0, len(k.subs))
	for _, s := range k.subs {
		subs = append(subs, s)
	}
	k.mu.Unlock()
	for _, s := range subs {
		s.publishIfBehind()
	}
}

// consume dispatches watched entries until the watch ends (false) or it
// should be started again (true): when a KV operation has failed since the
// watch began, or when the watch has not delivered, a whole check interval
// (k.retry) later, a revision the bucket already held at the last check.
// After a broker restart an ordered consumer can take several heartbeats to
// notice; a new watch replays every key's current value at once.
func (k *link) consume(w jetstream.KeyWatcher, since int64) bool {
	check := time.NewTicker(k.retry)
	defer check.Stop()
	var delivered, held uint64 // last revision delivered; latest in the bucket at the last check
	for {
		select {
		case <-k.ctx.Done():
			return false
		case <-check.C:
			if !k.active() {
				continue
			}
			if k.fails.Load() != since || delivered < held {
				return true
			}
			rev, err := k.latest()
			if err != nil {
				k.fail(err)
				return true
			}
			held = rev
		case e, ok := <-w.Updates():
			if !ok {
				return false
			}
			if e == nil {
				continue
			}
			delivered = max(delivered, e.Revision())
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			k.mu.Lock()
			s := k.subs[e.Key()]
			if s == nil {
				k.seen[e.Key()] = entry{value: e.Value(), rev: e.Revision()}
			}
			k.mu.Unlock()
			if s != nil && s.apply(entry{value: e.Value(), rev: e.Revision()}, false) {
				s.publish() // overwrite a value out of bounds
			}
		}
	}
}

// latest returns the newest revision among the watched keys: the bucket's
// last sequence, or the one key's revision (0 when it does not exist).
func (k *link) latest() (uint64, error) {
	ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
	defer cancel()
	if k.key == "" {
		st, err := k.kv.Status(ctx)
		if err != nil {
			return 0, err
		}
		bs, ok := st.(*jetstream.KeyValueBucketStatus)
		if !ok || bs.StreamInfo().State.Msgs == 0 {
			return 0, nil // nothing left to deliver (every key expired)
		}
		return bs.StreamInfo().State.LastSeq, nil
	}
	e, err := k.kv.Get(ctx, k.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return e.Revision(), nil
}

// close stops the watch and waits for it.
func (k *link) close() {
	k.cancel()
	k.wg.Wait()
}

// decode reads a KV value; an undecodable one is the empty state.
func (k *link) decode(key string, v []byte) state {
	var st state
	if err := json.Unmarshal(v, &st); err != nil {
		k.log.Debug("limiter: ignoring undecodable KV value", "key", key, "err", err)
		return state{}
	}
	return st
}
