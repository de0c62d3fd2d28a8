package clickyidtest

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const bulkBody = `{"emails":["a@uni.example"],"targetGroupIds":["tg_uni"]}`

// TestEndpointClassLimits: the guide's per-minute limits per endpoint class
// (bulk 10/min, burst 20) are enforced per key beside the hourly budget,
// each class on its own, with X-RateLimit-Window as documented.
func TestEndpointClassLimits(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	s := newServer(t, WithRealLimits(), WithClock(clk.now))
	for i := range 20 {
		a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody)
		if a.status != 200 {
			t.Fatalf("bulk call %d: %d, want 200 within the burst of 20", i+1, a.status)
		}
		if i == 0 && (a.header.Get("X-RateLimit-Limit") != "10" || a.header.Get("X-RateLimit-Remaining") != "19" || a.header.Get("X-RateLimit-Window") != "60") {
			t.Fatalf("first bulk headers %v, want the bulk class's (Limit 10, Remaining 19, Window 60)", a.header)
		}
	}
	a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "6" || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Window") != "60" {
		t.Fatalf("21st bulk call: %d %v, want 429 with Retry-After 6 (one token per 6 s)", a.status, a.header)
	}
	if reset, _ := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64); reset <= clk.now().Unix() {
		t.Fatalf("X-RateLimit-Reset %d is not in the future", reset)
	}
	// Another class has its own bucket.
	if a := do(t, s, "GET", "/target-groups", DefaultAPIKey, ""); a.status != 200 || a.header.Get("X-RateLimit-Limit") != "50" {
		t.Fatalf("target groups while bulk is spent: %d %v", a.status, a.header)
	}
	clk.add(6 * time.Second)
	if a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody); a.status != 200 {
		t.Fatalf("bulk after one token's time: %d", a.status)
	}
	if a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody); a.status != http.StatusTooManyRequests {
		t.Fatalf("second bulk after one token's time: %d, want 429", a.status)
	}
	if s.RateLimited() != 2 {
		t.Fatalf("RateLimited = %d, want 2", s.RateLimited())
	}
}

// TestHourlyBudgetBesideClasses: the hourly budget refuses when it is spent
// even though the class has tokens, with the hourly window's headers; a
// request the class refuses does not use the hourly budget.
func TestHourlyBudgetBesideClasses(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := Limits{
		Hourly:  apistest.RateLimit{Limit: 3, Window: time.Hour, Headers: true},
		Classes: map[Class]ClassLimit{ClassBulk: {Limit: 2, Burst: 2, Window: time.Minute}},
	}
	s := newServer(t, WithLimits(l), WithClock(clk.now))
	for range 2 {
		if a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody); a.status != 200 {
			t.Fatalf("bulk: %d", a.status)
		}
	}
	if a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody); a.status != http.StatusTooManyRequests || a.header.Get("X-RateLimit-Limit") != "2" {
		t.Fatalf("third bulk: %d %v, want 429 from the class", a.status, a.header)
	}
	// The class refusal did not use the hourly budget: one request is left.
	a := do(t, s, "GET", "/offers", DefaultAPIKey, "")
	if a.status != 200 || a.header.Get("X-RateLimit-Limit") != "3" || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Window") != "3600" {
		t.Fatalf("offers: %d %v, want 200 with the hourly headers (Limit 3, Remaining 0, Window 3600)", a.status, a.header)
	}
	clk.add(time.Minute)
	a = do(t, s, "POST", "/validate/bulk", DefaultAPIKey, bulkBody)
	if a.status != http.StatusTooManyRequests || a.header.Get("X-RateLimit-Limit") != "3" || a.header.Get("X-RateLimit-Window") != "3600" {
		t.Fatalf("bulk with the hour spent: %d %v, want 429 from the hourly budget", a.status, a.header)
	}
}

func TestLimitsScaled(t *testing.T) {
	t.Parallel()
	l := RealLimits.Scaled(1.0 / 30)
	if l.Hourly.Window != 2*time.Minute || l.Classes[ClassBulk].Window != 2*time.Second || l.Classes[ClassBulk].Burst != 20 {
		t.Fatalf("Scaled = %+v", l)
	}
	if RealLimits.Classes[ClassBulk].Window != time.Minute {
		t.Fatal("Scaled changed RealLimits")
	}
}
