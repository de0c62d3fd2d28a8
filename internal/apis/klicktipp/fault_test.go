package klicktipp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp"
)

func TestRateLimited(t *testing.T) {
	t.Parallel()
	for _, retryAfter := range []bool{true, false} {
		name := "Retry-After"
		if !retryAfter {
			name = "X-RateLimit-Reset"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{partner: true})
			b.srv.SetRateLimit(apistest.RateLimit{Limit: 2, Window: time.Hour, Headers: true, RetryAfter: retryAfter})
			s := b.login(t)
			for i := 0; i < 2; i++ {
				if _, err := s.Tags(t.Context()); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			_, err := s.Tags(t.Context())
			var ae *klicktipp.APIError
			if !errors.Is(err, apis.ErrRateLimited) || !errors.As(err, &ae) || ae.Status != 429 {
				t.Fatalf("Tags = %v, want 429 ErrRateLimited", err)
			}
			wait, ok := apis.RetryAfter(err)
			if !ok || wait <= 0 || wait > time.Hour+time.Second {
				t.Fatalf("RetryAfter = %v, %v", wait, ok)
			}
			if b.srv.RateLimited() != 1 {
				t.Fatalf("fake rejected %d", b.srv.RateLimited())
			}
		})
	}
}

// TestLimiterIsUsed: the configured limiter is waited on before and told
// after every request.
func TestLimiterIsUsed(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{}
	b := setup(t, setupOpts{cfg: func(c *klicktipp.Config) { c.Limiter = lim }})
	s := b.login(t)
	if _, err := s.Lists(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lim.waits.Load() != 2 || lim.observed.Load() != 2 {
		t.Fatalf("waits %d observed %d, want 2 2", lim.waits.Load(), lim.observed.Load())
	}
	lim.deny.Store(true)
	_, err := s.Lists(t.Context())
	if !errors.Is(err, apis.ErrRateLimited) || b.srv.Count("", "/list") != 1 {
		t.Fatalf("Lists with a denying limiter = %v (%d requests)", err, b.srv.Count("", "/list"))
	}
}

func TestTransientFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  apistest.Faults
		timeout time.Duration
		want    string // in the message
	}{
		{"5xx", apistest.Faults{FailRate: 1}, 0, "503: Service Unavailable"},
		{"500", apistest.Faults{FailRate: 1, FailStatus: 500}, 0, "500: Internal Server Error"},
		{"reset", apistest.Faults{ResetRate: 1}, 0, "GET /tag"},
		{"hang past timeout", apistest.Faults{HangRate: 1}, 200 * time.Millisecond, "GET /tag"},
		{"malformed", apistest.Faults{MalformedRate: 1}, 0, "undecodable response body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{partner: true, timeout: tt.timeout})
			s := b.login(t)
			b.srv.SetFaults(tt.faults, 1)
			_, err := s.Tags(t.Context())
			var ae *klicktipp.APIError
			if !errors.Is(err, apis.ErrTransient) || !errors.As(err, &ae) {
				t.Fatalf("Tags = %v, want ErrTransient *APIError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "klicktipp: GET /tag: ") {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			t.Log(err)
			for _, c := range []error{apis.ErrValidation, apis.ErrUnauthorized, apis.ErrNotFound, apis.ErrRateLimited} {
				if errors.Is(err, c) {
					t.Fatalf("transient error also matches %v", c)
				}
			}
		})
	}
}

// TestMalformedLogin: an undecodable login answer is transient, and no
// session is counted as opened.
func TestMalformedLogin(t *testing.T) {
	t.Parallel()
	opened := 0
	b := setup(t, setupOpts{cfg: func(c *klicktipp.Config) {
		c.OnSession = func(e klicktipp.SessionEvent) {
			if e == klicktipp.SessionOpened {
				opened++
			}
		}
	}})
	b.srv.SetFaults(apistest.Faults{MalformedRate: 1}, 1)
	if _, err := b.client.Login(t.Context()); !errors.Is(err, apis.ErrTransient) {
		t.Fatalf("Login = %v, want ErrTransient", err)
	}
	if opened != 0 {
		t.Fatal("SessionOpened reported for a failed login")
	}
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{partner: true})
	s := b.login(t)
	b.srv.SetFaults(apistest.Faults{HangRate: 1}, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Fields(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fields = %v, want context.DeadlineExceeded", err)
	}
}
