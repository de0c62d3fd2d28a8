package limiter_test

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
)

// A 429 whose X-RateLimit-Window names none of the joined budgets (an API
// that changed its windows, a proxy's limit) must still block: every
// budget takes it rather than each leaving it to another.
func TestJoinedUnclaimedWindowBlocksAll(t *testing.T) {
	clock := limitertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	mk := func(window time.Duration, rate float64) *limiter.Limiter {
		l, err := limiter.New(limiter.Config{API: "clickyid", Credential: "ck_live_join-" + window.String(), Rate: rate, Burst: 20,
			Window: window, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	hour, minute := mk(time.Hour, 1000.0/3600), mk(time.Minute, 10.0/60)
	j := limiter.Join(hour, minute)

	h := http.Header{}
	h.Set("Retry-After", "30")
	h.Set("X-RateLimit-Window", "2")
	j.Observe(http.StatusTooManyRequests, h)
	if d := j.Delay(); d < 29*time.Second {
		t.Fatalf("after a 429 naming a 2 s window: Delay %v, want the 30 s Retry-After (the answer was ignored)", d)
	}

	// An answer about one budget's window still leaves the other alone.
	clock.Advance(time.Minute)
	h.Set("X-RateLimit-Window", "60")
	j.Observe(http.StatusTooManyRequests, h)
	if d := minute.Delay(); d < 29*time.Second {
		t.Errorf("minute budget: Delay %v after a 429 naming its window", d)
	}
	if d := hour.Delay(); d > time.Second {
		t.Errorf("hour budget: Delay %v after a 429 naming the minute window", d)
	}
}
