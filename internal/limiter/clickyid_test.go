package limiter_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/limiter"
)

// TestClickyIDFake drives the real ClickyID client through a limiter against
// the ClickyID fake with its hourly limit scaled down to 10 requests per 2 s
// window. The limiter is configured far above that (50/s), so only the
// API's answers keep it in. Another client spends the first window; after the first 429, no request may reach the
// fake before the reset it announced, and no 429 may come after the first
// window.
func TestClickyIDFake(t *testing.T) {
	t.Parallel()
	const limit, window = 10, 2 * time.Second
	srv := clickyidtest.NewServer(clickyidtest.WithRateLimit(apistest.RateLimit{Limit: limit, Window: window, Headers: true}))
	t.Cleanup(srv.Close)
	log, logs := newLogger()
	l, err := limiter.New(limiter.Config{API: "clickyid", Credential: clickyidtest.DefaultAPIKey, Rate: 50, Burst: 5, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	hc := apis.NewHTTPClient(5 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	c, err := clickyid.New(clickyid.Config{BaseURL: srv.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc, Limiter: l})
	if err != nil {
		t.Fatal(err)
	}

	// Start just after a window boundary so the run covers one partial
	// first window and two full ones, and spend that first window with
	// another client of the same key (no limiter): the limiter's first
	// request then meets a 429 it could not have foreseen.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window + 50*time.Millisecond)))
	start := time.Now()
	other, err := clickyid.New(clickyid.Config{BaseURL: srv.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	for range limit {
		if _, err := other.ValidateBulk(context.Background(), clickyid.BulkRequest{Emails: []string{"x@uni.example"}, TargetGroupIDs: []string{clickyidtest.TargetGroupUni}}); err != nil {
			t.Fatalf("spending the first window: %v", err)
		}
	}
	spent := len(srv.Requests())
	end := start.Truncate(window).Add(3 * window)
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(-100*time.Millisecond))
	defer cancel()
	const callers = 4
	p := pool.New()
	for range callers {
		p.Go(func() {
			for ctx.Err() == nil {
				_, err := c.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{clickyidtest.TargetGroupUni}})
				if err != nil && ctx.Err() == nil && !errors.Is(err, apis.ErrRateLimited) {
					t.Errorf("ValidateBulk: %v", err)
					return
				}
			}
		})
	}
	waitFor(t, p.Wait, "callers to stop")

	// Requests already on the wire when the first 429 came back cannot
	// have known of it: at most one per other caller (4 send concurrently),
	// arriving shortly after it (on a loaded machine with -race, a request
	// granted before the 429 was seen can reach the fake 30 ms later).
	const inFlight = 200 * time.Millisecond
	var first429 time.Time
	together := 0
	firstWindowEnd := start.Truncate(window).Add(window)
	accepted := map[time.Time]int{}
	for _, r := range srv.Requests()[spent:] {
		w := r.Time.Truncate(window)
		switch {
		case r.Status == http.StatusTooManyRequests && first429.IsZero():
			first429 = r.Time
			if !w.Equal(start.Truncate(window)) {
				t.Errorf("first 429 at %v, after the first window", r.Time.Format(time.StampMilli))
			}
		case r.Status == http.StatusTooManyRequests && r.Time.Before(first429.Add(inFlight)) && together < callers-1:
			together++ // sent together with the first, before its answer was seen
		case r.Status == http.StatusTooManyRequests:
			t.Errorf("429 at %v, after the limiter had seen the first one at %v", r.Time.Format(time.StampMilli), first429.Format(time.StampMilli))
		case !first429.IsZero() && r.Time.Before(firstWindowEnd):
			t.Errorf("request at %v, after the 429 at %v and before the reset %v", r.Time.Format(time.StampMilli), first429.Format(time.StampMilli), firstWindowEnd.Format(time.StampMilli))
		case r.Status == http.StatusOK:
			accepted[w]++
		}
	}
	if first429.IsZero() {
		t.Error("the fake never answered 429: the limiter was not pushed past the API's limit")
	}
	for w := firstWindowEnd; w.Before(end); w = w.Add(window) {
		if accepted[w] < limit-1 {
			t.Errorf("window %v: %d of %d requests used", w.Format(time.TimeOnly), accepted[w], limit)
		}
	}
	t.Logf("requests: %d; 429s: %d; accepted per window: %v", len(srv.Requests()), srv.RateLimited(), accepted)
	if t.Failed() {
		t.Log(logs)
	}
}
