package klipy_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	const canary = "canary-key-7c1e55"
	tests := []struct {
		name    string
		cfg     klipy.Config
		wantErr string // substring; "" means success
	}{
		{"defaults", klipy.Config{APIKey: klipytest.DefaultAPIKey}, ""},
		{"loopback http", klipy.Config{BaseURL: "http://127.0.0.1:9/api/v1", APIKey: canary}, ""},
		{"localhost http", klipy.Config{BaseURL: "http://localhost:9/api/v1/", APIKey: canary}, ""},
		{"insecure allowed", klipy.Config{BaseURL: "http://klipy.internal/api/v1", APIKey: canary, AllowInsecureHTTP: true}, ""},
		{"missing key", klipy.Config{}, "Config.APIKey is required"},
		{"key with newline", klipy.Config{APIKey: canary + "\n"}, "Config.APIKey must not contain"},
		{"key with space", klipy.Config{APIKey: "Bearer " + canary}, "Config.APIKey must not contain"},
		{"http remote", klipy.Config{BaseURL: "http://api.klipy.ai/api/v1", APIKey: canary}, "Config.BaseURL"},
		{"ftp", klipy.Config{BaseURL: "ftp://api.klipy.ai/", APIKey: canary}, "Config.BaseURL"},
		{"not a URL", klipy.Config{BaseURL: "::", APIKey: canary}, "Config.BaseURL"},
		{"user info", klipy.Config{BaseURL: "https://user:" + canary + "@api.klipy.ai:x/", APIKey: canary}, "Config.BaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := klipy.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New = %v, %v; want a client", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("New err %q echoes the key", err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	team, err := b.client.Authenticate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if team != klipytest.DefaultTeam {
		t.Errorf("team = %q, want %q", team, klipytest.DefaultTeam)
	}
	reqs := b.srv.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/authenticate" {
		t.Fatalf("requests = %+v", reqs)
	}
	if got := reqs[0].Header.Get("X-KLIPY-API-KEY"); got != klipytest.DefaultAPIKey {
		t.Errorf("X-KLIPY-API-KEY = %q", got)
	}
}

func TestAuthenticateOtherTeam(t *testing.T) {
	t.Parallel()
	b := setup(t, klipytest.WithAPIKey(klipytest.APIKey{Key: "other-key", Team: "Growth", Organisation: "org_2"}))
	team, err := b.withKey(t, "other-key").Authenticate(context.Background())
	if err != nil || team != "Growth" {
		t.Fatalf("Authenticate = %q, %v; want Growth", team, err)
	}
}

func TestBaseURLPrefix(t *testing.T) {
	t.Parallel()
	srv := klipytest.NewServer()
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", srv.Handler()))
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	c, err := klipy.New(klipy.Config{BaseURL: front.URL + "/api/v1/", APIKey: klipytest.DefaultAPIKey, HTTPClient: newHTTPClient(t, 5*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertPerson(context.Background(), klipy.Person{"email": "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Count("PUT", "/people"); got != 1 {
		t.Fatalf("PUT /people count = %d, want 1", got)
	}
}

func TestUpsertPerson(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first, err := b.client.UpsertPerson(ctx, klipy.Person{
		"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee",
		"title": "CTO", "phone": "+49 30 1234", "source": "crm-export", "score": 42,
		"custom": map[string]any{"plan": "pro"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "" || !first.Created || first.RequestID == "" {
		t.Fatalf("first upsert = %+v, want an id, Created and a request id", first)
	}
	second, err := b.client.UpsertPerson(ctx, klipy.Person{"email": "ANN@example.com ", "title": "CEO"})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Created || second.RequestID == first.RequestID {
		t.Fatalf("second upsert = %+v, want same id %q, not Created, a new request id", second, first.ID)
	}
	p, ok := b.srv.Person("ann@example.com")
	if !ok {
		t.Fatal("person not stored")
	}
	want := map[string]string{"id": first.ID, "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "title": "CEO", "phone": "+49 30 1234", "source": "crm-export", "score": "42"}
	for k, v := range want {
		if got := toString(p[k]); got != v {
			t.Errorf("person[%q] = %q, want %q", k, got, v)
		}
	}
	if c, _ := p["custom"].(map[string]any); c["plan"] != "pro" {
		t.Errorf("custom = %v, want passed through", p["custom"])
	}
	if n := len(b.srv.People()); n != 1 {
		t.Errorf("%d people, want 1", n)
	}
	var body map[string]any
	if err := json.Unmarshal(b.srv.Requests()[0].Body, &body); err != nil || body["source"] != "crm-export" {
		t.Errorf("request body %s: extra keys not sent unchanged", b.srv.Requests()[0].Body)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestUpsertPersonConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "p" + string(rune('a'+i)) + "@example.com"
			r, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": email})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = r.ID
		}()
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("the 20 concurrent upserts did not return within 30s")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("ids = %v, want 20 distinct", ids)
		}
		seen[id] = true
	}
	if n := len(b.srv.People()); n != 20 {
		t.Fatalf("%d people, want 20", n)
	}
}

func TestUpsertPersonRefusedLocally(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []klipy.Person{nil, {}, {"email": ""}, {"email": "  "}, {"email": 7}, {"firstName": "Ann"}} {
		_, err := b.client.UpsertPerson(context.Background(), p)
		ae := asAPIError(t, err, apis.ErrValidation)
		if ae.Code != klipy.CodeMissingEmail {
			t.Errorf("%v: Code = %q, want %q", p, ae.Code, klipy.CodeMissingEmail)
		}
	}
	_, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com", "bad": func() {}})
	asAPIError(t, err, apis.ErrValidation)
	if n := b.srv.Count("", ""); n != 0 {
		t.Fatalf("%d requests sent, want 0", n)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	const readOnly = "read-only-key-123456"
	tests := []struct {
		name     string
		key      string
		basePath string
		person   klipy.Person
		class    error
		code     string
		status   int
	}{
		{"invalid email", klipytest.DefaultAPIKey, "", klipy.Person{"email": "bad@"}, apis.ErrValidation, klipy.CodeInvalidEmail, 422},
		{"invalid field", klipytest.DefaultAPIKey, "", klipy.Person{"email": "a@example.com", "firstName": 5}, apis.ErrValidation, "invalid_field", 422},
		{"unknown key", "no-such-key-123456", "", klipy.Person{"email": "a@example.com"}, apis.ErrUnauthorized, "unauthorized", 401},
		{"read-only key", readOnly, "", klipy.Person{"email": "a@example.com"}, apis.ErrForbidden, klipytest.CodeInsufficientScope, 403},
		{"wrong base path", klipytest.DefaultAPIKey, "/api/v2", klipy.Person{"email": "a@example.com"}, apis.ErrNotFound, "not_found", 404},
	}
	b := setup(t, klipytest.WithAPIKey(klipytest.APIKey{Key: readOnly, ReadOnly: true}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := klipy.New(klipy.Config{BaseURL: b.srv.URL + tt.basePath, APIKey: tt.key, HTTPClient: b.hc})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.UpsertPerson(context.Background(), tt.person)
			ae := asAPIError(t, err, tt.class)
			if ae.Status != tt.status || ae.Code != tt.code || ae.Op != "PUT /people" || ae.API != "klipy" {
				t.Errorf("err = %+v, want status %d code %q", ae, tt.status, tt.code)
			}
			if !strings.Contains(ae.Error(), "(request req_") {
				t.Errorf("err %q lacks the request id", ae)
			}
			if strings.Contains(ae.Error(), tt.key) {
				t.Errorf("err %q contains the key", ae)
			}
		})
	}
}

func TestUnauthorizedAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.withKey(t, "wrong-key-abcdef").Authenticate(context.Background())
	ae := asAPIError(t, err, apis.ErrUnauthorized)
	if got := ae.Error(); !strings.HasPrefix(got, "klipy: GET /authenticate: 401 error unauthorized: invalid API key (request req_") {
		t.Errorf("err = %q", got)
	}
}

func TestRateLimitedPerKey(t *testing.T) {
	t.Parallel()
	// A fixed clock 10s into a minute window: the fake says Retry-After 50.
	now := time.Unix(1_800_000_010, 0)
	b := setup(t,
		klipytest.WithRateLimits(apistest.RateLimit{Limit: 2, Window: time.Minute, Headers: true, RetryAfter: true}, klipytest.RealOrgRateLimit),
		klipytest.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	for i := range 2 {
		if _, err := b.client.UpsertPerson(ctx, klipy.Person{"email": "a@example.com"}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := b.client.UpsertPerson(ctx, klipy.Person{"email": "a@example.com"})
	ae := asAPIError(t, err, apis.ErrRateLimited)
	if ae.Wait != 50*time.Second {
		t.Errorf("Wait = %v, want 50s", ae.Wait)
	}
	if d, ok := apis.RetryAfter(err); !ok || d != 50*time.Second {
		t.Errorf("apis.RetryAfter = %v, %v", d, ok)
	}
	if ae.Code != "rate_limit_exceeded" || ae.Status != 429 {
		t.Errorf("err = %+v", ae)
	}
}

func TestRateLimitedWaitFromReset(t *testing.T) {
	t.Parallel()
	// Without Retry-After the wait comes from X-RateLimit-Reset.
	b := setup(t, klipytest.WithRateLimits(apistest.RateLimit{Limit: 1, Window: time.Hour, Headers: true}, apistest.RateLimit{}))
	ctx := context.Background()
	if _, err := b.client.Authenticate(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := b.client.Authenticate(ctx)
	ae := asAPIError(t, err, apis.ErrRateLimited)
	if ae.Wait <= 0 || ae.Wait > time.Hour+time.Second {
		t.Errorf("Wait = %v, want within the hour window", ae.Wait)
	}
}

func TestRateLimitedPerOrganisation(t *testing.T) {
	t.Parallel()
	b := setup(t,
		klipytest.WithAPIKey(klipytest.APIKey{Key: "second-key-123456", Team: "Second", Organisation: klipytest.DefaultOrganisation}),
		klipytest.WithRateLimits(
			apistest.RateLimit{Limit: 10, Window: time.Hour, Headers: true, RetryAfter: true},
			apistest.RateLimit{Limit: 3, Window: time.Hour, Headers: true, RetryAfter: true}))
	ctx := context.Background()
	second := b.withKey(t, "second-key-123456")
	for _, c := range []*klipy.Client{b.client, b.client, second} {
		if _, err := c.Authenticate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := second.Authenticate(ctx)
	ae := asAPIError(t, err, apis.ErrRateLimited)
	if ae.Wait <= 0 {
		t.Errorf("Wait = %v, want > 0", ae.Wait)
	}
	if b.srv.RateLimited() != 1 {
		t.Errorf("RateLimited = %d, want 1", b.srv.RateLimited())
	}
}

// limiterSpy records what the client tells its limiter.
type limiterSpy struct {
	mu       sync.Mutex
	waits    int
	statuses []int
	headers  []http.Header
}

func (l *limiterSpy) Wait(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waits++
	return nil
}

func (l *limiterSpy) Observe(status int, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses = append(l.statuses, status)
	l.headers = append(l.headers, h.Clone())
}

func TestLimiterAndObserver(t *testing.T) {
	t.Parallel()
	spy := &limiterSpy{}
	var mu sync.Mutex
	var ops []string
	b := setupWith(t, klipy.Config{APIKey: klipytest.DefaultAPIKey, Limiter: spy, Observer: func(api, op string, status int, _ time.Duration) {
		mu.Lock()
		ops = append(ops, api+" "+op)
		mu.Unlock()
	}}, klipytest.WithRealRateLimits())
	if _, err := b.client.Authenticate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if spy.waits != 2 || len(spy.statuses) != 2 || spy.statuses[1] != http.StatusCreated {
		t.Fatalf("limiter saw waits=%d statuses=%v", spy.waits, spy.statuses)
	}
	if got := spy.headers[1].Get("X-RateLimit-Remaining"); got != "198" {
		t.Errorf("X-RateLimit-Remaining = %q, want 198", got)
	}
	if strings.Join(ops, ",") != "klipy GET /authenticate,klipy PUT /people" {
		t.Errorf("observer saw %v", ops)
	}
}

func TestLimiterRefusal(t *testing.T) {
	t.Parallel()
	refuse := &apis.Error{API: "klipy", Op: "wait", Class: apis.ErrRateLimited, Wait: time.Minute}
	b := setupWith(t, klipy.Config{APIKey: klipytest.DefaultAPIKey, Limiter: refusingLimiter{refuse}})
	_, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com"})
	asAPIError(t, err, apis.ErrRateLimited)
	if b.srv.Count("", "") != 0 {
		t.Fatal("a request was sent although the limiter refused")
	}
}

type refusingLimiter struct{ err error }

func (r refusingLimiter) Wait(context.Context) error { return r.err }
func (refusingLimiter) Observe(int, http.Header)     {}

func TestTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  apistest.Faults
		timeout time.Duration
		status  int
		want    string
	}{
		{"5xx", apistest.Faults{FailRate: 1}, 5 * time.Second, 503, "503 error internal_error"},
		{"502", apistest.Faults{FailRate: 1, FailStatus: 502}, 5 * time.Second, 502, "502 error internal_error"},
		{"reset", apistest.Faults{ResetRate: 1}, 5 * time.Second, 0, "PUT /people: "},
		{"hang", apistest.Faults{HangRate: 1}, 100 * time.Millisecond, 0, "no complete answer within 100ms (HTTP_TIMEOUT)"},
		{"malformed", apistest.Faults{MalformedRate: 1}, 5 * time.Second, 200, "undecodable response body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, klipy.Config{APIKey: klipytest.DefaultAPIKey, HTTPClient: newHTTPClient(t, tt.timeout)})
			b.srv.SetFaults(tt.faults, 1)
			_, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com"})
			ae := asAPIError(t, err, apis.ErrTransient)
			if ae.Status != tt.status || !strings.Contains(ae.Error(), tt.want) {
				t.Errorf("err = %q (status %d), want status %d and %q", ae, ae.Status, tt.status, tt.want)
			}
			if len(b.srv.People()) != 0 && tt.name != "malformed" {
				t.Errorf("person stored despite fault")
			}
		})
	}
}

func TestContextCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetFaults(apistest.Faults{HangRate: 1}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.client.Authenticate(ctx); err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestNoSecretsInErrors sends canary keys and makes the API (a stand-in
// server) echo them in every way it could; no error may carry them.
func TestNoSecretsInErrors(t *testing.T) {
	t.Parallel()
	const canary = "canary_SECRET_key_9f8e7d"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-KLIPY-API-KEY")
		switch r.URL.Path {
		case "/authenticate":
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"object":"error","error":{"code":"` + k + `","message":"bad key ` + k + `"},"meta":{"request_id":"` + k + `"}}`))
		case "/people":
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`<html>X-KLIPY-API-KEY: ` + k + ` Authorization: Bearer ` + k + `</html>`))
		default:
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"object":"error","error":{"message":"` + k + `"}}`))
		}
	}))
	t.Cleanup(echo.Close)
	hc := newHTTPClient(t, 5*time.Second)
	var errs []error
	for _, base := range []string{echo.URL, echo.URL + "/other"} {
		c, err := klipy.New(klipy.Config{BaseURL: base, APIKey: canary, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		_, err1 := c.Authenticate(context.Background())
		_, err2 := c.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com"})
		errs = append(errs, err1, err2)
	}
	// And against the fake: unknown key, then a hang and a reset.
	b := setupWith(t, klipy.Config{APIKey: canary, HTTPClient: newHTTPClient(t, 100*time.Millisecond)})
	_, err := b.client.UpsertPerson(context.Background(), klipy.Person{"email": "a@example.com"})
	errs = append(errs, err)
	b.srv.SetFaults(apistest.Faults{HangRate: 1}, 1)
	_, err = b.client.Authenticate(context.Background())
	errs = append(errs, err)
	b.srv.SetFaults(apistest.Faults{ResetRate: 1}, 1)
	_, err = b.client.Authenticate(context.Background())
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d is nil", i)
		}
		t.Logf("error %d: %v", i, err)
		if s := err.Error(); strings.Contains(s, canary) || strings.Contains(s, "SECRET") {
			t.Errorf("error %d leaks the key: %q", i, s)
		}
	}
}

// TestAuthenticateBothGuides: the old guide's {"team_name"} and the current
// envelope with the organisation's name in data both give the name.
func TestAuthenticateBothGuides(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]klipytest.Option{"current": nil, "legacy": {klipytest.WithLegacyAuthenticate()}} {
		b := setup(t, opts...)
		team, err := b.client.Authenticate(t.Context())
		if err != nil || team != klipytest.DefaultTeam {
			t.Errorf("%s: Authenticate = %q, %v; want %q", name, team, err, klipytest.DefaultTeam)
		}
	}
}

// TestMissingScopeDetails: a key without people:write gets 403 with the
// structured error; its details reach the error.
func TestMissingScopeDetails(t *testing.T) {
	t.Parallel()
	b := setup(t, klipytest.WithAPIKey(klipytest.APIKey{Key: "klipy_api_readonly0123456789", ReadOnly: true}))
	_, err := b.withKey(t, "klipy_api_readonly0123456789").UpsertPerson(t.Context(), klipy.Person{"email": "a@example.com"})
	if !errors.Is(err, apis.ErrForbidden) || !strings.Contains(err.Error(), "required_scope: people:write") {
		t.Fatalf("UpsertPerson with a read-only key = %v, want 403 naming people:write", err)
	}
}
