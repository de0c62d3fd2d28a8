package limiter_test

import (
	"context"
	"testing"
	"time"

	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
)

// A caller that keeps coming back at a steady pace gets leases sized to its
// recent rate, so a busy credential with budget to spare costs a KV write
// per batch of requests, not one per request (one caller had no other
// waiter to share a write with: every grant was a round trip to KV).
func TestLeaseFollowsRecentGrantRate(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	kv := &countingKV{KeyValue: s.bucket(t)}
	clock := limitertest.NewClock(time.Now())
	l, _ := replica(t, kv, func(c *limiter.Config) { c.Rate, c.Burst, c.Clock = 1e6, 1000, clock })
	ctx := context.Background()
	wait := func(n int) int64 {
		before := kv.ops.Load()
		for range n {
			if err := l.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Millisecond) // 1,000 requests a second
		}
		return kv.ops.Load() - before
	}
	wait(1500) // learn the rate
	ops := wait(1000)
	t.Logf("%d KV operations for 1,000 grants at 1,000/s", ops)
	if ops > 100 {
		t.Fatalf("%d KV operations for 1,000 grants at a steady 1,000/s; want at most 100 (leases of 10 or more)", ops)
	}
}

// At a low pace the lease stays one token even with budget to spare: more
// would go stale (leaseTTL) before the caller came back, wasted from the
// fleet's budget.
func TestLeaseStaysOneAtALowPace(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	kv := &countingKV{KeyValue: s.bucket(t)}
	clock := limitertest.NewClock(time.Now())
	l, _ := replica(t, kv, func(c *limiter.Config) { c.Rate, c.Burst, c.Clock = 20, 20, clock })
	ctx := context.Background()
	for range 40 {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(100 * time.Millisecond) // 10 requests a second
	}
	if ops := kv.ops.Load(); ops < 40 {
		t.Fatalf("%d KV operations for 40 grants at 10/s: some grant leased tokens that would go stale", ops)
	}
}
