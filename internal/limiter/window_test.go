package limiter_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/limiter"
)

// fixedWindow is a ClickyID-like API: limit requests per window (windows
// aligned to the Unix epoch), X-RateLimit-Limit, -Remaining and -Reset (Unix
// seconds) on every answer, 429 over the limit. The window of the first
// request starts already spent, as if another client had used the key.
type fixedWindow struct {
	limit  int
	window time.Duration

	mu           sync.Mutex
	start        time.Time // current window
	used         int
	first        time.Time // start of the first window
	firstTooMany chan time.Time
	hits         []hit
}

type hit struct {
	at     time.Time
	window time.Time
	status int
}

func (f *fixedWindow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	ws := now.Truncate(f.window)
	if f.first.IsZero() {
		f.first, f.start, f.used = ws, ws, f.limit
	}
	if !ws.Equal(f.start) {
		f.start, f.used = ws, 0
	}
	status := http.StatusOK
	if f.used >= f.limit {
		status = http.StatusTooManyRequests
	} else {
		f.used++
	}
	f.hits = append(f.hits, hit{at: now, window: ws, status: status})
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(f.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(f.limit-f.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ws.Add(f.window).Unix(), 10))
	w.WriteHeader(status)
	if status == http.StatusTooManyRequests {
		select {
		case f.firstTooMany <- ws.Add(f.window):
		default:
		}
		_, _ = w.Write([]byte(`{"error":"rate limit exceeded","requestId":"r"}`))
		return
	}
	_, _ = w.Write([]byte(`{"results":[],"requestId":"r"}`))
}

// recorder wraps a Limiter to record, per request, when Wait was called and
// when it granted, and when the first 429 had been observed.
type recorder struct {
	l *limiter.Limiter

	mu       sync.Mutex
	waits    [][2]time.Time // call, grant
	observed time.Time      // first 429 fully observed
}

func (r *recorder) Wait(ctx context.Context) error {
	called := time.Now()
	if err := r.l.Wait(ctx); err != nil {
		return err
	}
	granted := time.Now()
	r.mu.Lock()
	r.waits = append(r.waits, [2]time.Time{called, granted})
	r.mu.Unlock()
	return nil
}

func (r *recorder) Observe(status int, h http.Header) {
	r.l.Observe(status, h)
	if status == http.StatusTooManyRequests {
		r.mu.Lock()
		if r.observed.IsZero() {
			r.observed = time.Now()
		}
		r.mu.Unlock()
	}
}

// TestFixedWindowAPI runs four workers against a 20-per-2s API (ClickyID's
// 1,000/hour scaled down) on the real clock, for the spent first window
// and two full ones after it.
func TestFixedWindowAPI(t *testing.T) {
	t.Parallel()
	const limit, window = 20, 2 * time.Second
	api := &fixedWindow{limit: limit, window: window, firstTooMany: make(chan time.Time, 1)}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	log, logs := newLogger()
	l, err := limiter.New(limiter.Config{
		API: "clickyid", Credential: secret, Logger: log,
		Rate: 15, Burst: 4, // above the API's 10/s: its headers must keep us in
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rec := &recorder{l: l}
	tr := &apis.Transport{API: "clickyid", HTTP: srv.Client(), Limiter: rec}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/validate/bulk", nil)
				_, _, err := tr.Do(ctx, "POST /validate/bulk", req)
				if err != nil && ctx.Err() == nil && !errors.Is(err, apis.ErrRateLimited) {
					t.Errorf("request: %v", err)
					return
				}
			}
		})
	}
	var reset time.Time
	select {
	case reset = <-api.firstTooMany:
	case <-time.After(10 * time.Second):
		t.Fatal("no 429 from the spent first window")
	}
	end := reset.Add(2 * window)
	select {
	case <-time.After(time.Until(end) - 50*time.Millisecond):
	case <-ctx.Done():
	}
	cancel()
	waitFor(t, wg.Wait, "callers to stop")
	if t.Failed() {
		return
	}

	// Nothing granted between the 429 and the reset it named, to any Wait
	// that began after the 429 was observed.
	rec.mu.Lock()
	observed := rec.observed
	for _, w := range rec.waits {
		if w[0].After(observed) && w[1].Before(reset) {
			t.Errorf("granted at %v, before the reset %v, a Wait begun after the 429 (observed %v)",
				w[1].Format(time.StampMicro), reset.Format(time.StampMicro), observed.Format(time.StampMicro))
		}
	}
	rec.mu.Unlock()

	api.mu.Lock()
	defer api.mu.Unlock()
	ok, last := map[time.Time]int{}, map[time.Time]time.Time{}
	for _, h := range api.hits {
		switch {
		case h.status == http.StatusTooManyRequests && !h.window.Equal(api.first):
			t.Errorf("429 at %v, after the first window", h.at.Format(time.StampMicro))
		case h.window.Equal(api.first) && !h.at.Before(reset):
			t.Errorf("request at %v counted in the first window ending %v", h.at, reset)
		case h.status == http.StatusOK:
			ok[h.window]++
			last[h.window] = h.at
		}
	}
	// Paced, not burnt in a burst and then stalled: each full window's last
	// request comes late in it.
	for w := reset; w.Before(end); w = w.Add(window) {
		if idle := w.Add(window).Sub(last[w]); idle > window/4 {
			t.Errorf("window %v: idle for the last %v of it", w.Format(time.TimeOnly), idle)
		}
	}
	// The budget is used, not wasted: (nearly) every request of each full window.
	for w := reset; w.Before(end); w = w.Add(window) {
		if ok[w] < limit-2 {
			t.Errorf("window %v: %d of %d requests used", w.Format(time.TimeOnly), ok[w], limit)
		}
	}
	t.Logf("hits: %d; accepted per window: %v", len(api.hits), ok)
	if t.Failed() {
		t.Log(logs)
	}
}
