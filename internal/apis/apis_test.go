package apis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/apis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClassOf(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]error{
		200: nil, 204: nil, 302: nil,
		400: apis.ErrValidation, 406: apis.ErrValidation, 409: apis.ErrValidation, 422: apis.ErrValidation,
		401: apis.ErrUnauthorized, 403: apis.ErrForbidden, 404: apis.ErrNotFound, 429: apis.ErrRateLimited,
		408: apis.ErrTransient, 500: apis.ErrTransient, 502: apis.ErrTransient, 503: apis.ErrTransient,
	} {
		if got := apis.ClassOf(status); got != want {
			t.Errorf("ClassOf(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestErrorIsOneClass(t *testing.T) {
	t.Parallel()
	classes := []error{apis.ErrRateLimited, apis.ErrUnauthorized, apis.ErrForbidden, apis.ErrNotFound, apis.ErrValidation, apis.ErrTransient}
	for _, e := range []*apis.Error{
		{API: "klipy", Op: "PUT /people", Status: 422, Code: "invalid_email", Message: "bad"},
		{API: "klipy", Op: "PUT /people", Status: 429, Wait: 3 * time.Second},
		{API: "klipy", Op: "PUT /people", Class: apis.ErrTransient, Err: errors.New("connection reset")},
	} {
		n := 0
		for _, c := range classes {
			if errors.Is(fmt.Errorf("wrapped: %w", e), c) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%v matches %d classes", e, n)
		}
	}
	e := &apis.Error{API: "klicktipp", Op: "POST /subscriber", Status: 406, Code: "5", Message: "invalid email"}
	if e.Error() != "klicktipp: POST /subscriber: 406 error 5: invalid email" {
		t.Errorf("Error() = %q", e.Error())
	}
	if d, ok := apis.RetryAfter(fmt.Errorf("x: %w", &apis.Error{Status: 429, Wait: 7 * time.Second})); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter = %v %v", d, ok)
	}
	if _, ok := apis.RetryAfter(errors.New("plain")); ok {
		t.Error("RetryAfter of a plain error")
	}
}

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw      string
		insecure bool
		ok       bool
	}{
		{"https://api.klicktipp.com", false, true},
		{"https://api.klipy.ai/api/v1/", false, true},
		{"http://127.0.0.1:8080", false, true},
		{"http://127.5.5.5", false, true},
		{"http://[::1]:9000", false, true},
		{"http://localhost:1", false, true},
		{"http://example.com", false, false},
		{"http://example.com", true, true},
		{"ftp://example.com", true, false},
		{"https://", false, false},
		{"api.klicktipp.com", false, false},
		{"http://user:canary-pass@example.com", false, false},
	} {
		u, err := apis.ParseBaseURL(tc.raw, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("ParseBaseURL(%q, %v) = %v, %v", tc.raw, tc.insecure, u, err)
		}
		if err != nil && strings.Contains(err.Error(), "canary-pass") {
			t.Errorf("error leaks the password: %v", err)
		}
		if err == nil && strings.HasSuffix(u.Path, "/") {
			t.Errorf("ParseBaseURL(%q) kept a trailing slash", tc.raw)
		}
	}
}

func TestWaitHint(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		status int
		h      http.Header
		want   time.Duration
	}{
		{429, h("Retry-After", "30"), 30 * time.Second},
		{429, h("Retry-After", now.Add(90*time.Second).UTC().Format(http.TimeFormat)), 90 * time.Second},
		{429, h("X-RateLimit-Reset", "1800000042"), 42 * time.Second},
		{200, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1800000010"), 10 * time.Second},
		{200, h("X-RateLimit-Remaining", "5", "X-RateLimit-Reset", "1800000010"), 0},
		{429, h("X-RateLimit-Reset", "1799999990"), 0}, // in the past
		{429, h("Retry-After", "soon"), 0},
		{429, h("Retry-After", "-5"), 0},
		{429, h(), 0},
	} {
		if got := apis.WaitHint(tc.status, tc.h, now); got != tc.want {
			t.Errorf("WaitHint(%d, %v) = %v, want %v", tc.status, tc.h, got, tc.want)
		}
	}
}

type recordingLimiter struct {
	mu       sync.Mutex
	waits    int
	observed []int
	refuse   error
}

func (l *recordingLimiter) Wait(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return l.refuse
}

func (l *recordingLimiter) Observe(status int, _ http.Header) {
	l.mu.Lock()
	l.observed = append(l.observed, status)
	l.mu.Unlock()
}

func TestTransportWaitsObservesAndClassifies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	hc := apis.NewHTTPClient(time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	lim := &recordingLimiter{}
	var observed []int
	var mu sync.Mutex
	tr := &apis.Transport{API: "test", HTTP: hc, Limiter: lim, Observer: func(api, op string, status int, _ time.Duration) {
		mu.Lock()
		observed = append(observed, status)
		mu.Unlock()
	}}
	ctx := context.Background()
	for _, path := range []string{"/", "/boom"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, body, err := tr.Do(ctx, "GET "+path, req)
		if err != nil {
			t.Fatalf("Do %s: %v", path, err)
		}
		if path == "/" && (resp.StatusCode != 200 || string(body) != `{"ok":true}`) {
			t.Errorf("Do /: %d %q", resp.StatusCode, body)
		}
	}
	if lim.waits != 2 || fmt.Sprint(lim.observed) != "[200 503]" || fmt.Sprint(observed) != "[200 503]" {
		t.Errorf("waits %d, limiter saw %v, observer saw %v", lim.waits, lim.observed, observed)
	}

	// No answer: a transient *Error without the URL.
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/x?token=canary", nil)
	_, _, err := tr.Do(ctx, "GET /x", req)
	var ae *apis.Error
	if !errors.As(err, &ae) || !errors.Is(err, apis.ErrTransient) || strings.Contains(err.Error(), "canary") {
		t.Errorf("unreachable: %v", err)
	}

	// A limiter refusal sends nothing.
	lim.refuse = errors.New("blocked")
	before := len(lim.observed)
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	if _, _, err := tr.Do(ctx, "GET /", req); err == nil || len(lim.observed) != before {
		t.Errorf("refused Wait: err %v, observed %v", err, lim.observed)
	}
}
