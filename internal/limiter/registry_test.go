package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	log, logs := newLogger()
	clock := limitertest.NewClock(start)
	reg := limiter.NewRegistry(limiter.Config{Clock: clock, Logger: log, MaxBlock: time.Minute})
	t.Cleanup(func() { reg.Close() })

	a, err := reg.For("klicktipp", "user", 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := reg.For("klicktipp", "user", 10, 10)
	if a != b {
		t.Fatal("same API and credential: two limiters")
	}
	other, _ := reg.For("klicktipp", "other-user", 10, 10)
	klipy, _ := reg.For("klipy", "user", 3.3, 10)
	if other == a || klipy == a || klipy.ID() == a.ID() {
		t.Fatal("different credential or API: shared limiter")
	}

	// A block through one account profile holds the other sharing the key;
	// base settings (MaxBlock) apply.
	a.Observe(http.StatusTooManyRequests, hdr("Retry-After", "3600"))
	if d := b.Delay(); d != time.Minute {
		t.Fatalf("shared limiter Delay() = %v, want the 1m MaxBlock", d)
	}
	if d := other.Delay(); d != 0 {
		t.Fatalf("other credential blocked: %v", d)
	}

	if c, _ := reg.For("klicktipp", "user", 5, 1); c != a {
		t.Fatal("other rate: new limiter")
	}
	if logs.Count("another rate or burst") != 1 {
		t.Fatalf("differing rate not logged:\n%s", logs)
	}
	if _, err := reg.For("Bad API", "user", 1, 1); err == nil {
		t.Fatal("invalid API accepted")
	}

	reg.Close()
	if _, err := reg.For("klicktipp", "user", 10, 10); !errors.Is(err, limiter.ErrClosed) {
		t.Fatalf("For after Close = %v, want ErrClosed", err)
	}
}

// TestRegistryOneWatch: however many credentials a Registry serves, the
// process holds one consumer on the limits bucket, and a block written by
// another replica reaches each credential's limiter through it; a KV outage
// is warned about once, not once per credential.
func TestRegistryOneWatch(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	kv := s.bucket(t)
	log, logs := newLogger()
	reg := limiter.NewRegistry(limiter.Config{KV: kv, Logger: log, KVTimeout: 300 * time.Millisecond, KVRetry: time.Second})
	t.Cleanup(func() { reg.Close() })
	const n = 40
	ls := make([]*limiter.Limiter, n)
	for i := range n {
		l, err := reg.For("klipy", fmt.Sprintf("key-%d", i), 100, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ls[i] = l
	}
	info, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c := info.(*jetstream.KeyValueBucketStatus).StreamInfo().State.Consumers; c != 1 {
		t.Errorf("%d consumers on the limits bucket for %d credentials, want 1", c, n)
	}
	other, _ := replica(t, s.bucket(t), func(c *limiter.Config) { c.API, c.Credential, c.Rate, c.Burst = "klipy", "key-7", 100, 10 })
	other.Observe(429, hdr("Retry-After", "30"))
	eventually(t, "another replica's block reaching the registry's limiter", func() bool { return ls[7].Delay() > 20*time.Second })
	if d := ls[8].Delay(); d != 0 {
		t.Errorf("another credential blocked: %v", d)
	}

	s.shutdown()
	for i, l := range ls {
		if i == 7 {
			continue // blocked
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Wait with NATS down = %v, want local limiting", err)
		}
	}
	if w := logs.Count("level=WARN"); w != 1 {
		t.Errorf("%d warnings for one outage of %d credentials, want 1", w, n)
	}
}
