package clickyid_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
)

// ops calls every operation of c.
func ops(ctx context.Context) map[string]func(*clickyid.Client) error {
	return map[string]func(*clickyid.Client) error{
		"POST /validate/bulk": func(c *clickyid.Client) error {
			_, err := c.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_uni"}})
			return err
		},
		"GET /target-groups": func(c *clickyid.Client) error { _, err := c.TargetGroups(ctx); return err },
		"GET /offers":        func(c *clickyid.Client) error { _, err := c.Offers(ctx); return err },
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	const unknown = "ck_live_ffffffffffffffffffffffffffffffffffffffff"
	b := setupWith(t, clickyid.Config{APIKey: unknown})
	for op, call := range ops(context.Background()) {
		ae := asAPIError(t, call(b.client), apis.ErrUnauthorized)
		if ae.Op != op || ae.Status != 401 || ae.Code != "INVALID_API_KEY" {
			t.Errorf("%s: %v", op, ae)
		}
	}
	// A revoked key is refused too.
	b2 := setup(t)
	b2.srv.RemoveAPIKey(clickyidtest.DefaultAPIKey)
	asAPIError(t, ops(context.Background())["GET /offers"](b2.client), apis.ErrUnauthorized)
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	// The fake's clock runs two hours ahead, so the window it reports ends at
	// least two hours from now whatever the wall clock says.
	ahead := func() time.Time { return time.Now().Add(2 * time.Hour) }
	b := setup(t,
		clickyidtest.WithClock(ahead),
		clickyidtest.WithRateLimit(apistest.RateLimit{Limit: 2, Window: time.Hour, Headers: true}),
	)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := b.client.TargetGroups(ctx); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	for op, call := range ops(ctx) {
		err := call(b.client)
		ae := asAPIError(t, err, apis.ErrRateLimited)
		if ae.Op != op || ae.Status != 429 || ae.Code != "RATE_LIMIT_EXCEEDED" {
			t.Errorf("%s: %v", op, err)
		}
		if ae.Wait < 2*time.Hour-time.Minute || ae.Wait > 3*time.Hour+time.Minute {
			t.Errorf("%s: Wait = %v, want the rest of the window (2h–3h)", op, ae.Wait)
		}
		if d, ok := apis.RetryAfter(err); !ok || d != ae.Wait {
			t.Errorf("%s: RetryAfter = %v, %v", op, d, ok)
		}
	}
	if got := b.srv.RateLimited(); got != 3 {
		t.Errorf("RateLimited() = %d, want 3", got)
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  apistest.Faults
		timeout time.Duration
		status  int
	}{
		{"5xx", apistest.Faults{FailRate: 1}, 5 * time.Second, 503},
		{"500", apistest.Faults{FailRate: 1, FailStatus: 500}, 5 * time.Second, 500},
		{"reset", apistest.Faults{ResetRate: 1}, 5 * time.Second, 0},
		{"hang past timeout", apistest.Faults{HangRate: 1}, 100 * time.Millisecond, 0},
		{"malformed", apistest.Faults{MalformedRate: 1}, 5 * time.Second, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, clickyid.Config{APIKey: clickyidtest.DefaultAPIKey, HTTPClient: newHTTPClient(t, tt.timeout)})
			b.srv.SetFaults(tt.faults, 1)
			for op, call := range ops(context.Background()) {
				err := call(b.client)
				ae := asAPIError(t, err, apis.ErrTransient)
				if ae.Op != op || ae.Status != tt.status {
					t.Errorf("%s: err = %v (status %d), want status %d", op, err, ae.Status, tt.status)
				}
			}
		})
	}
}

// TestNoSecretsInErrors runs every error path with a canary key and checks
// that no error text carries it, even when the server echoes it back.
func TestNoSecretsInErrors(t *testing.T) {
	t.Parallel()
	const hexPart = "cafe0cafe0cafe0cafe0cafe0cafe0cafe0cafe0"
	const canary = "ck_live_" + hexPart
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range []string{err.Error(), strings.ToLower(err.Error())} {
			if strings.Contains(s, hexPart) || strings.Contains(s, "cafe0cafe0") {
				t.Fatalf("%s: error %q contains the key", what, err)
			}
		}
	}

	// The fake, with the canary as an unknown key, then as a key without scopes.
	ctx := context.Background()
	for _, faults := range []apistest.Faults{{}, {FailRate: 1}, {ResetRate: 1}, {MalformedRate: 1}, {HangRate: 1}} {
		b := setupWith(t, clickyid.Config{APIKey: canary, HTTPClient: newHTTPClient(t, 100*time.Millisecond)})
		b.srv.SetFaults(faults, 7)
		for op, call := range ops(ctx) {
			check(t, op, call(b.client))
		}
		b.srv.AddAPIKey(canary)
		for op, call := range ops(ctx) {
			check(t, op, call(b.client))
		}
	}
	b := setupWith(t, clickyid.Config{APIKey: canary}, clickyidtest.WithAPIKey(canary, clickyidtest.ScopeTargetGroups, clickyidtest.ScopeOffers),
		clickyidtest.WithRateLimit(apistest.RateLimit{Limit: 1, Window: time.Hour, Headers: true}))
	_, err := b.client.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{canary + "@uni.example"}, TargetGroupIDs: []string{canary}})
	check(t, "400 naming the key", err)
	_, err = b.client.Offers(ctx)
	check(t, "429", err)
	_, err = b.client.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"a@uni.example"}, Mode: canary})
	check(t, "bad mode", err)

	// A server that echoes the Authorization header in every error shape.
	bodies := []string{
		`{"error":"unauthorized","message":"bad key: %s","requestId":"req_1"}`,
		`{"error":{"code":"E","message":"key %s"}}`,
		`{"error":"%s"}`,
		`not json %s`,
		`{"code":"%s"}`,
	}
	for _, body := range bodies {
		for _, status := range []int{400, 401, 403, 429, 500} {
			echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(status)
				_, _ = w.Write([]byte(strings.ReplaceAll(body, "%s", r.Header.Get("Authorization"))))
			}))
			c, err := clickyid.New(clickyid.Config{BaseURL: echo.URL, APIKey: canary, HTTPClient: newHTTPClient(t, 5*time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			for op, call := range ops(ctx) {
				err := call(c)
				check(t, op+" echo", err)
				if !errors.Is(err, apis.ClassOf(status)) {
					t.Errorf("%s: status %d: err %v has the wrong class", op, status, err)
				}
			}
			echo.Close()
		}
	}
}
