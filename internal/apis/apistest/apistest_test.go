package apistest_test

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/apis/apistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fake is the smallest fake: one route behind the shared plumbing.
type fake struct {
	apistest.Server
	lim apistest.Limiter
}

func newFake(t *testing.T, now time.Time) *fake {
	f := &fake{}
	f.lim.Now = func() time.Time { return now }
	f.Start(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }), &f.lim, apistest.Shapes{})
	t.Cleanup(f.Close)
	return f
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestFixedWindowHeaders(t *testing.T) {
	now := time.Unix(1_800_000_001, 500_000_000) // 1.5 s into a 2 s window
	f := newFake(t, now)
	f.lim.Set(apistest.RateLimit{Limit: 2, Window: 2 * time.Second, Headers: true, RetryAfter: true})
	wantReset := strconv.FormatInt(1_800_000_002, 10)
	for i, want := range []struct {
		status    int
		remaining string
	}{{200, "1"}, {200, "0"}, {429, "0"}} {
		resp, _ := get(t, f.URL+"/x")
		h := resp.Header
		if resp.StatusCode != want.status || h.Get("X-RateLimit-Remaining") != want.remaining || h.Get("X-RateLimit-Reset") != wantReset || h.Get("X-RateLimit-Limit") != "2" {
			t.Errorf("request %d: %d remaining %s reset %s", i, resp.StatusCode, h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset"))
		}
		if want.status == 429 && h.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q, want 1 (0.5 s rounded up)", h.Get("Retry-After"))
		}
	}
	if f.lim.Rejected() != 1 || f.Count("GET", "/x") != 3 {
		t.Errorf("rejected %d, recorded %d", f.lim.Rejected(), f.Count("GET", "/x"))
	}
	if rs := f.Requests(); rs[2].Status != 429 || rs[0].Status != 200 {
		t.Errorf("recorded statuses %d %d", rs[0].Status, rs[2].Status)
	}
}

func TestFaults(t *testing.T) {
	f := newFake(t, time.Now())
	f.SetFaults(apistest.Faults{FailRate: 1}, 1)
	if resp, _ := get(t, f.URL+"/x"); resp.StatusCode != 503 {
		t.Errorf("FailRate 1: %d", resp.StatusCode)
	}
	f.SetFaults(apistest.Faults{MalformedRate: 1}, 1)
	if resp, body := get(t, f.URL+"/x"); resp.StatusCode != 200 || body != `{"trunc` {
		t.Errorf("MalformedRate 1: %d %q", resp.StatusCode, body)
	}
	f.SetFaults(apistest.Faults{ResetRate: 1}, 1)
	if _, err := http.Get(f.URL + "/x"); err == nil {
		t.Error("ResetRate 1: the request succeeded")
	}
	got := f.FaultsInjected()
	// net/http retries an idempotent GET once after a reset on a reused
	// connection, so the reset may be drawn twice.
	if got["fail"] != 1 || got["malformed"] != 1 || got["reset"] < 1 {
		t.Errorf("FaultsInjected = %v", got)
	}
}
