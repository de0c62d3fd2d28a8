package limiter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/limiter"
)

// TestLiveBeforeBackfillLocally: a live request gets the next token ahead
// of backfill requests of the same credential, whichever started waiting
// first.
func TestLiveBeforeBackfillLocally(t *testing.T) {
	t.Parallel()
	for _, liveFirst := range []bool{false, true} {
		b := setup(t, nil)
		ctx := context.Background()
		if err := b.lim.Wait(ctx); err != nil { // spends the one token
			t.Fatal(err)
		}
		var live, backfill <-chan error
		if liveFirst {
			live = goWait(b.lim, ctx)
			awaitPending(t, b, 1)
		}
		backfill = goWait(b.lim, apis.WithBackfill(ctx))
		awaitPending(t, b, len2(liveFirst))
		if !liveFirst {
			live = goWait(b.lim, ctx)
			awaitPending(t, b, 2)
		}
		b.clock.Advance(time.Second)
		if err := recv(t, live, "live Wait"); err != nil {
			t.Fatalf("live first %v: live Wait = %v", liveFirst, err)
		}
		select {
		case err := <-backfill:
			t.Fatalf("live first %v: backfill Wait returned %v with the token the live request should take", liveFirst, err)
		default:
		}
		awaitTimer(t, b.clock)
		b.clock.Advance(time.Second)
		if err := recv(t, backfill, "backfill Wait"); err != nil {
			t.Fatalf("backfill Wait = %v", err)
		}
	}
}

func len2(liveFirst bool) int {
	if liveFirst {
		return 2
	}
	return 1
}

func awaitPending(t *testing.T, b *bundle, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.clock.AwaitPending(ctx, n); err != nil {
		t.Fatalf("%d waiters on the clock: not within 5s", n)
	}
}

// TestLiveBeforeBackfillAcrossReplicas: while replica B's backfill requests
// saturate a credential, replica A's live requests take the budget ahead of
// them: B gets at most about one token (the announcement's round trip)
// while one of A's live requests waits, where without priority B's four
// waiters would win about four of every five.
func TestLiveBeforeBackfillAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	mod := func(c *limiter.Config) { c.Rate, c.Burst = 20, 1 }
	a, _ := replica(t, s.bucket(t), mod)
	b, _ := replica(t, s.bucket(t), mod)

	var mu sync.Mutex
	var backfillAt []time.Time
	ctx, cancel := context.WithCancel(apis.WithBackfill(context.Background()))
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if b.Wait(ctx) == nil {
					mu.Lock()
					backfillAt = append(backfillAt, time.Now())
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, "backfill saturating", func() bool { mu.Lock(); defer mu.Unlock(); return len(backfillAt) >= 5 })
	const lives = 10
	var windows [][2]time.Time
	for range lives {
		begin := time.Now()
		if err := a.Wait(context.Background()); err != nil {
			t.Fatalf("live Wait = %v", err)
		}
		windows = append(windows, [2]time.Time{begin, time.Now()})
	}
	cancel()
	waitFor(t, wg.Wait, "backfill waiters to stop")
	overtaken := 0
	mu.Lock()
	for _, w := range windows {
		for _, at := range backfillAt {
			if at.After(w[0]) && at.Before(w[1]) {
				overtaken++
			}
		}
	}
	mu.Unlock()
	t.Logf("%d backfill grants while %d live requests waited", overtaken, lives)
	if overtaken > lives+2 {
		t.Errorf("%d backfill grants of another replica went ahead of %d waiting live requests, want at most about one each", overtaken, lives)
	}
}

// TestWindowRoutesAnswers: a limiter with Config.Window reads only answers
// about its own window (X-RateLimit-Window), or answers naming none.
func TestWindowRoutesAnswers(t *testing.T) {
	t.Parallel()
	hour := setup(t, func(c *limiter.Config) { c.Window = time.Hour })
	minute := setup(t, func(c *limiter.Config) { c.Window = time.Minute })
	classRefusal := hdr("Retry-After", "30", "X-RateLimit-Window", "60", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(30*time.Second))
	for _, l := range []*limiter.Limiter{hour.lim, minute.lim} {
		l.Observe(429, classRefusal)
	}
	if d := hour.lim.Delay(); d != 0 {
		t.Errorf("hourly limiter blocked %v by a 60 s window's 429", d)
	}
	if d := minute.lim.Delay(); d != 30*time.Second {
		t.Errorf("class limiter Delay() = %v after its window's 429, want 30s", d)
	}
	hour.lim.Observe(429, hdr("Retry-After", "5"))
	if d := hour.lim.Delay(); d != 5*time.Second {
		t.Errorf("hourly limiter Delay() = %v after a 429 naming no window, want 5s", d)
	}
}

// TestJoinWaitsOnEach: a joined request needs a token of each budget, and
// a spent one refuses without taking from the others.
func TestJoinWaitsOnEach(t *testing.T) {
	t.Parallel()
	key := setup(t, func(c *limiter.Config) { c.Rate, c.Burst, c.MaxWait = 100, 100, time.Millisecond })
	org := setup(t, func(c *limiter.Config) { c.Credential, c.Rate, c.Burst, c.MaxWait = "org", 1, 2, time.Millisecond })
	j := limiter.Join(key.lim).AndBudget(org.lim)
	ctx := context.Background()
	for range 2 {
		if err := j.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Wait(ctx); err == nil {
		t.Fatal("third request went although the organisation's burst of 2 is spent")
	}
	if d := key.lim.Delay(); d != 0 {
		t.Errorf("key's Delay() = %v: the refused request took its token", d)
	}
	j.Observe(429, hdr("Retry-After", "9"))
	if d := org.lim.Delay(); d > time.Second {
		t.Errorf("organisation budget told the answer: Delay() = %v", d)
	}
	if d := key.lim.Delay(); d != 9*time.Second {
		t.Errorf("key's Delay() = %v after a 429, want 9s", d)
	}
}
