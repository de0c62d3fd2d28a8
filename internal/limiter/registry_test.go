package limiter_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

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
