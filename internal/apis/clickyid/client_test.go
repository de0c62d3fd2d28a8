package clickyid_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	const canary = "ck_live_c4a4a7c4a4a7c4a4a7c4a4a7c4a4a7c4a4a7c4a" // 41 hex: malformed
	tests := []struct {
		name    string
		cfg     clickyid.Config
		wantErr string // substring; "" means success
	}{
		{"defaults", clickyid.Config{APIKey: clickyidtest.DefaultAPIKey}, ""},
		{"loopback http", clickyid.Config{BaseURL: "http://127.0.0.1:9/api/v1", APIKey: clickyidtest.DefaultAPIKey}, ""},
		{"insecure allowed", clickyid.Config{BaseURL: "http://clickyid.internal/api/v1", APIKey: clickyidtest.DefaultAPIKey, AllowInsecureHTTP: true}, ""},
		{"upper-case hex", clickyid.Config{APIKey: "ck_live_0123456789ABCDEF0123456789ABCDEF01234567"}, ""},
		{"missing key", clickyid.Config{}, "Config.APIKey is required"},
		{"malformed key", clickyid.Config{APIKey: canary}, "Config.APIKey is malformed"},
		{"test key", clickyid.Config{APIKey: "ck_test_0123456789abcdef0123456789abcdef01234567"}, "Config.APIKey is malformed"},
		{"bearer prefix", clickyid.Config{APIKey: "Bearer " + clickyidtest.DefaultAPIKey}, "Config.APIKey is malformed"},
		{"http remote", clickyid.Config{BaseURL: "http://clickyid.com/api/v1", APIKey: clickyidtest.DefaultAPIKey}, "Config.BaseURL"},
		{"not a URL", clickyid.Config{BaseURL: "::", APIKey: clickyidtest.DefaultAPIKey}, "Config.BaseURL"},
		{"user info", clickyid.Config{BaseURL: "https://user:" + canary + "@clickyid.com:x/", APIKey: clickyidtest.DefaultAPIKey}, "Config.BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := clickyid.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "c4a4a7") || strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("New err %q echoes the key", err)
			}
		})
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.client.ValidateBulk(context.Background(), clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{clickyidtest.TargetGroupUni}}); err != nil {
		t.Fatal(err)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/validate/bulk" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+clickyidtest.DefaultAPIKey {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	const want = `{"emails":["a@uni.example"],"targetGroupIds":["tg_uni"],"mode":"any"}`
	if string(r.Body) != want {
		t.Errorf("body = %s, want %s", r.Body, want)
	}
}

func TestBaseURLWithPath(t *testing.T) {
	t.Parallel()
	fake := clickyidtest.NewServer()
	t.Cleanup(fake.Close)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", fake.Handler()))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	c, err := clickyid.New(clickyid.Config{BaseURL: front.URL + "/api/v1/", APIKey: clickyidtest.DefaultAPIKey, HTTPClient: newHTTPClient(t, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := c.TargetGroups(context.Background())
	if err != nil || len(groups) == 0 {
		t.Fatalf("TargetGroups = %v, %v", groups, err)
	}
	if n := fake.Count("GET", "/target-groups"); n != 1 {
		t.Fatalf("fake saw %d GET /target-groups, want 1", n)
	}
}

// recLimiter is an apis.Limiter that records what the client tells it.
type recLimiter struct {
	mu       sync.Mutex
	waits    int
	statuses []int
	headers  []http.Header
	deny     error
}

func (l *recLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return l.deny
}

func (l *recLimiter) Observe(status int, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses = append(l.statuses, status)
	l.headers = append(l.headers, h.Clone())
}

func TestLimiterAndObserver(t *testing.T) {
	t.Parallel()
	lim := &recLimiter{}
	var mu sync.Mutex
	var observed []string
	obs := func(api, op string, status int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, api+" "+op+" "+http.StatusText(status))
	}
	b := setupWith(t, clickyid.Config{APIKey: clickyidtest.DefaultAPIKey, Limiter: lim, Observer: obs})
	if _, err := b.client.Offers(context.Background()); err != nil {
		t.Fatal(err)
	}
	if lim.waits != 1 || len(lim.statuses) != 1 || lim.statuses[0] != 200 {
		t.Fatalf("limiter waits=%d statuses=%v", lim.waits, lim.statuses)
	}
	if got := lim.headers[0].Get("X-RateLimit-Limit"); got != "1000" {
		t.Errorf("limiter saw X-RateLimit-Limit %q, want 1000", got)
	}
	if got := lim.headers[0].Get("X-RateLimit-Remaining"); got != "999" {
		t.Errorf("limiter saw X-RateLimit-Remaining %q, want 999", got)
	}
	if len(observed) != 1 || observed[0] != "clickyid GET /offers OK" {
		t.Errorf("observer saw %v", observed)
	}

	// A limiter that refuses stops the request before it is sent.
	lim.mu.Lock()
	lim.deny = &apis.Error{API: "clickyid", Op: "wait", Class: apis.ErrRateLimited, Wait: time.Minute}
	lim.mu.Unlock()
	_, err := b.client.TargetGroups(context.Background())
	if !errors.Is(err, apis.ErrRateLimited) {
		t.Fatalf("err = %v, want ErrRateLimited", err)
	}
	if n := b.srv.Count("", ""); n != 1 {
		t.Fatalf("fake saw %d requests, want 1", n)
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.client.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_uni"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
