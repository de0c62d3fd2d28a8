package limiter_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
)

// A ClickyID limiter: the configured budget, then what the API says.
func Example() {
	clock := limitertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l, err := limiter.New(limiter.Config{
		API: "clickyid", Credential: "ck_live_example", Rate: 0.25, Burst: 2,
		Clock: clock, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()

	// The burst goes at once; then one request every 4s.
	_ = l.Wait(ctx)
	_ = l.Wait(ctx)
	fmt.Println("after the burst:", l.Delay())

	// The API answers 429 with Retry-After: nothing goes for 2 minutes, and
	// Wait says so at once rather than hold the caller (MaxWait is 10s).
	h := http.Header{}
	h.Set("Retry-After", "120")
	l.Observe(http.StatusTooManyRequests, h)
	err = l.Wait(ctx)
	wait, _ := apis.RetryAfter(err)
	fmt.Println("rate limited:", errors.Is(err, apis.ErrRateLimited), "retry after", wait)

	clock.Advance(2 * time.Minute)
	fmt.Println("after the block:", l.Delay(), l.Wait(ctx))
	// Output:
	// after the burst: 4s
	// rate limited: true retry after 2m0s
	// after the block: 0s <nil>
}

// Two account profiles with the same API key share one limiter.
func ExampleRegistry() {
	reg := limiter.NewRegistry(limiter.Config{Logger: slog.New(slog.DiscardHandler)})
	defer reg.Close()
	a, _ := reg.For("klipy", "key-1", 3.3, 10)
	b, _ := reg.For("klipy", "key-1", 3.3, 10)
	c, _ := reg.For("klipy", "key-2", 3.3, 10)
	fmt.Println(a == b, a == c)
	// Output: true false
}
