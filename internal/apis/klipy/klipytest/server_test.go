package klipytest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klipy/klipytest"
)

type bundle struct {
	srv *klipytest.Server
	hc  *http.Client
}

func setup(t *testing.T, opts ...klipytest.Option) *bundle {
	t.Helper()
	srv := klipytest.NewServer(opts...)
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return &bundle{srv: srv, hc: hc}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends method path with body and headers ("Name: value" pairs).
func (b *bundle) do(t *testing.T, method, path, body string, headers ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

var defaultKey = "X-KLIPY-API-KEY: " + klipytest.DefaultAPIKey

// errorCode checks a is an error envelope with a request id and returns its code.
func errorCode(t *testing.T, a answer) string {
	t.Helper()
	if a.body["object"] != "error" {
		t.Fatalf("body %s is not an error envelope", a.raw)
	}
	e, _ := a.body["error"].(map[string]any)
	meta, _ := a.body["meta"].(map[string]any)
	if e == nil || e["message"] == "" || meta == nil || !strings.HasPrefix(meta["request_id"].(string), "req_") {
		t.Fatalf("body %s lacks error or meta.request_id", a.raw)
	}
	code, _ := e["code"].(string)
	return code
}

func data(t *testing.T, a answer) map[string]any {
	t.Helper()
	d, _ := a.body["data"].(map[string]any)
	meta, _ := a.body["meta"].(map[string]any)
	if a.body["object"] != "success" || d == nil || meta == nil || meta["request_id"] == "" {
		t.Fatalf("body %s is not a success envelope", a.raw)
	}
	return d
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"header", []string{defaultKey}, 200},
		{"bearer", []string{"Authorization: Bearer " + klipytest.DefaultAPIKey}, 200},
		{"bearer lower-case scheme", []string{"Authorization: bearer " + klipytest.DefaultAPIKey}, 200},
		{"missing", nil, 401},
		{"empty header", []string{"X-KLIPY-API-KEY: "}, 401},
		{"unknown", []string{"X-KLIPY-API-KEY: nope"}, 401},
		{"wrong case", []string{"X-KLIPY-API-KEY: " + strings.ToUpper(klipytest.DefaultAPIKey)}, 401},
		{"prefix", []string{"X-KLIPY-API-KEY: " + klipytest.DefaultAPIKey[:10]}, 401},
		{"basic scheme", []string{"Authorization: Basic " + klipytest.DefaultAPIKey}, 401},
		{"header wins over bearer", []string{"X-KLIPY-API-KEY: nope", "Authorization: Bearer " + klipytest.DefaultAPIKey}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := b.do(t, "GET", "/authenticate", "", tt.headers...)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.raw)
			}
			if tt.status == 200 {
				if d := data(t, a); d["organization_name"] != klipytest.DefaultTeam {
					t.Fatalf("organization_name = %v", d["organization_name"])
				}
			} else if code := errorCode(t, a); code != "unauthorized" {
				t.Fatalf("code = %q", code)
			}
		})
	}
}

func TestUpsertSemantics(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := setup(t, klipytest.WithClock(func() time.Time { return now }))
	a := b.do(t, "PUT", "/people", `{"email":" Ann@Example.com ","firstName":"Ann","id":"forged","n":12345678901234567890,"tags":["a"]}`, defaultKey)
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	d := data(t, a)
	if d["id"] != "per_000001" || d["email"] != "Ann@Example.com" || d["created_at"] != "2026-03-01T12:00:00Z" || d["firstName"] != "Ann" {
		t.Fatalf("created %v", d)
	}
	a = b.do(t, "PUT", "/people", `{"email":"ann@example.COM","lastName":"Lee","firstName":null,"created_at":"x"}`, defaultKey)
	if a.status != 200 {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	p, ok := b.srv.Person("ANN@example.com")
	if !ok {
		t.Fatal("Person not found")
	}
	if p["id"] != "per_000001" || p["email"] != "Ann@Example.com" || p["lastName"] != "Lee" || p["firstName"] != nil || p["created_at"] != "2026-03-01T12:00:00Z" {
		t.Fatalf("merged person %v", p)
	}
	if n, _ := p["n"].(json.Number); n.String() != "12345678901234567890" {
		t.Errorf("number lost precision: %v", p["n"])
	}
	// Accessors return copies.
	p["lastName"] = "changed"
	p["tags"].([]any)[0] = "changed"
	if q, _ := b.srv.Person("ann@example.com"); q["lastName"] != "Lee" || q["tags"].([]any)[0] != "a" {
		t.Fatal("accessor exposed internal state")
	}
	b.do(t, "PUT", "/people", `{"email":"bob@example.com"}`, defaultKey)
	ps := b.srv.People()
	if len(ps) != 2 || ps[0]["email"] != "Ann@Example.com" || ps[1]["id"] != "per_000002" {
		t.Fatalf("People = %v", ps)
	}
	if b.srv.Upserts() != 3 || b.srv.Count("PUT", "/people") != 3 {
		t.Fatalf("Upserts %d Count %d", b.srv.Upserts(), b.srv.Count("PUT", "/people"))
	}
}

func TestPeoplePerTeam(t *testing.T) {
	t.Parallel()
	b := setup(t, klipytest.WithAPIKey(klipytest.APIKey{Key: "growth-key", Team: "Growth"}))
	b.do(t, "PUT", "/people", `{"email":"a@example.com"}`, "X-KLIPY-API-KEY: growth-key")
	if _, ok := b.srv.Person("a@example.com"); ok {
		t.Fatal("person of team Growth visible in DefaultTeam")
	}
	if _, ok := b.srv.TeamPerson("Growth", "a@example.com"); !ok || len(b.srv.TeamPeople("Growth")) != 1 {
		t.Fatal("person not stored for team Growth")
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", `{"email":`, 400, "invalid_json"},
		{"array", `[{"email":"a@example.com"}]`, 400, "invalid_json"},
		{"null", `null`, 400, "invalid_json"},
		{"trailing data", `{"email":"a@example.com"}{}`, 400, "invalid_json"},
		{"empty body", ``, 400, "invalid_json"},
		{"no email", `{"firstName":"Ann"}`, 422, "invalid_email"},
		{"null email", `{"email":null}`, 422, "invalid_email"},
		{"blank email", `{"email":"  "}`, 422, "invalid_email"},
		{"number email", `{"email":5}`, 422, "invalid_email"},
		{"no at", `{"email":"ann.example.com"}`, 422, "invalid_email"},
		{"no domain dot", `{"email":"ann@example"}`, 422, "invalid_email"},
		{"two ats", `{"email":"a@b@example.com"}`, 422, "invalid_email"},
		{"space inside", `{"email":"a b@example.com"}`, 422, "invalid_email"},
		{"too long", `{"email":"` + strings.Repeat("a", 250) + `@example.com"}`, 422, "invalid_email"},
		{"firstName number", `{"email":"a@example.com","firstName":1}`, 422, "invalid_field"},
		{"phone object", `{"email":"a@example.com","phone":{}}`, 422, "invalid_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := b.do(t, "PUT", "/people", tt.body, defaultKey)
			if a.status != tt.status || errorCode(t, a) != tt.code {
				t.Fatalf("%d %s, want %d %s", a.status, a.raw, tt.status, tt.code)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(b.srv.People()); n != 0 {
			t.Errorf("%d people stored from invalid requests", n)
		}
	})
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, klipytest.WithAPIKey(klipytest.APIKey{Key: "ro-key", ReadOnly: true}))
	a := b.do(t, "POST", "/people", `{"email":"a@example.com"}`, defaultKey)
	if a.status != 405 || a.header.Get("Allow") != "PUT" || errorCode(t, a) != "method_not_allowed" {
		t.Fatalf("POST /people: %d %v %s", a.status, a.header, a.raw)
	}
	if a = b.do(t, "GET", "/people/per_1", "", defaultKey); a.status != 404 || errorCode(t, a) != "not_found" {
		t.Fatalf("GET /people/x: %d %s", a.status, a.raw)
	}
	if a = b.do(t, "GET", "/authenticate", "", "X-KLIPY-API-KEY: ro-key"); a.status != 200 {
		t.Fatalf("read-only authenticate: %d %s", a.status, a.raw)
	}
	if a = b.do(t, "PUT", "/people", `{"email":"a@example.com"}`, "X-KLIPY-API-KEY: ro-key"); a.status != 403 || errorCode(t, a) != klipytest.CodeInsufficientScope {
		t.Fatalf("read-only upsert: %d %s", a.status, a.raw)
	}
	if a = b.do(t, "PUT", "/people", `{"email":"bad"}`, "X-KLIPY-API-KEY: nope"); a.status != 401 {
		t.Fatalf("auth must come before validation: %d %s", a.status, a.raw)
	}
}

func TestNoRateLimitByDefault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 250 {
		a := b.do(t, "GET", "/authenticate", "", defaultKey)
		if a.status != 200 || a.header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("%d %v", a.status, a.header)
		}
	}
}

// clock is a settable clock for the rate-limit windows.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestRealRateLimits(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_800_000_000, 0).Truncate(time.Minute).Add(15 * time.Second)
	clk := newClock(start)
	b := setup(t, klipytest.WithRealRateLimits(), klipytest.WithClock(clk.now))
	reset := strconv.FormatInt(start.Truncate(time.Minute).Add(time.Minute).Unix(), 10)

	// Bad keys get 401 without rate-limit headers and are not counted.
	if a := b.do(t, "GET", "/authenticate", "", "X-KLIPY-API-KEY: nope"); a.status != 401 || a.header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("bad key: %d %v", a.status, a.header)
	}
	for i := range 200 {
		a := b.do(t, "GET", "/authenticate", "", defaultKey)
		if a.status != 200 {
			t.Fatalf("request %d: %d %s", i, a.status, a.raw)
		}
		if a.header.Get("X-RateLimit-Limit") != "200" || a.header.Get("X-RateLimit-Remaining") != strconv.Itoa(199-i) || a.header.Get("X-RateLimit-Reset") != reset {
			t.Fatalf("request %d headers %v", i, a.header)
		}
	}
	a := b.do(t, "PUT", "/people", `{"email":"a@example.com"}`, defaultKey)
	if a.status != 429 || errorCode(t, a) != "rate_limit_exceeded" || a.header.Get("Retry-After") != "45" || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != reset {
		t.Fatalf("over the limit: %d %v %s", a.status, a.header, a.raw)
	}
	if len(b.srv.People()) != 0 || b.srv.RateLimited() != 1 {
		t.Fatal("a refused upsert was stored or not counted")
	}
	clk.advance(45 * time.Second) // the next window
	if a = b.do(t, "GET", "/authenticate", "", defaultKey); a.status != 200 || a.header.Get("X-RateLimit-Remaining") != "199" {
		t.Fatalf("next window: %d %v", a.status, a.header)
	}
}

func TestOrganisationLimit(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Unix(1_800_000_000, 0))
	b := setup(t,
		klipytest.WithAPIKey(klipytest.APIKey{Key: "k2", Team: "Two"}),
		klipytest.WithAPIKey(klipytest.APIKey{Key: "other-org", Team: "Other", Organisation: "org_other"}),
		klipytest.WithRateLimits(
			apistest.RateLimit{Limit: 4, Window: time.Second, Headers: true, RetryAfter: true},
			apistest.RateLimit{Limit: 6, Window: time.Second, Headers: true, RetryAfter: true}),
		klipytest.WithClock(clk.now))
	// Key headers while the key is tighter, organisation headers once it is.
	want := []struct {
		key       string
		status    int
		limit     string
		remaining string
	}{
		{klipytest.DefaultAPIKey, 200, "4", "3"},
		{klipytest.DefaultAPIKey, 200, "4", "2"},
		{klipytest.DefaultAPIKey, 200, "4", "1"},
		{"k2", 200, "6", "2"},
		{"k2", 200, "6", "1"},
		{"k2", 200, "6", "0"},
		{"k2", 429, "6", "0"},
		{klipytest.DefaultAPIKey, 429, "6", "0"},
		{"other-org", 200, "4", "3"},
	}
	for i, w := range want {
		a := b.do(t, "GET", "/authenticate", "", "X-KLIPY-API-KEY: "+w.key)
		if a.status != w.status || a.header.Get("X-RateLimit-Limit") != w.limit || a.header.Get("X-RateLimit-Remaining") != w.remaining {
			t.Fatalf("request %d (%s): %d limit %s remaining %s, want %d %s %s", i, w.key, a.status,
				a.header.Get("X-RateLimit-Limit"), a.header.Get("X-RateLimit-Remaining"), w.status, w.limit, w.remaining)
		}
		if w.status == 429 && a.header.Get("Retry-After") != "1" {
			t.Fatalf("request %d: Retry-After %q", i, a.header.Get("Retry-After"))
		}
	}
	b.srv.SetOrgRateLimit(apistest.RateLimit{})
	b.srv.SetRateLimit(apistest.RateLimit{})
	if a := b.do(t, "GET", "/authenticate", "", defaultKey); a.status != 200 || a.header.Get("X-RateLimit-Limit") != "" {
		t.Fatalf("limits off: %d %v", a.status, a.header)
	}
}

func TestConcurrentUpserts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the requests share an email: exactly 8 people result.
			body := `{"email":"p` + strconv.Itoa(i%8) + `@example.com","n":` + strconv.Itoa(i) + `}`
			if a := b.do(t, "PUT", "/people", body, defaultKey); a.status != 200 && a.status != 201 {
				t.Errorf("%d %s", a.status, a.raw)
			}
		}()
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("the 16 concurrent upserts did not return within 30s")
	}
	if n := len(b.srv.People()); n != 8 {
		t.Fatalf("%d people, want 8", n)
	}
	created := 0
	for _, r := range b.srv.Requests() {
		if r.Status == 201 {
			created++
		}
	}
	if created != 8 {
		t.Fatalf("%d answers were 201, want 8", created)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.SetFaults(apistest.Faults{FailRate: 1}, 7)
	if a := b.do(t, "GET", "/authenticate", "", defaultKey); a.status != 503 || errorCode(t, a) != "internal_error" {
		t.Fatalf("fail: %d %s", a.status, a.raw)
	}
	b.srv.SetFaults(apistest.Faults{MalformedRate: 1}, 7)
	if a := b.do(t, "GET", "/authenticate", "", defaultKey); a.status != 200 || json.Valid([]byte(a.raw)) {
		t.Fatalf("malformed: %d %s", a.status, a.raw)
	}
	b.srv.SetFaults(apistest.Faults{}, 0)
	if a := b.do(t, "GET", "/authenticate", "", defaultKey); a.status != 200 {
		t.Fatalf("no faults: %d", a.status)
	}
	if f := b.srv.FaultsInjected(); f["fail"] != 1 || f["malformed"] != 1 {
		t.Fatalf("FaultsInjected = %v", f)
	}
}

func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.do(t, "PUT", "/people", `{"email":"a@example.com"}`, defaultKey, "Content-Type: application/json")
	b.do(t, "GET", "/authenticate", "", "X-KLIPY-API-KEY: bad")
	reqs := b.srv.Requests()
	if len(reqs) != 2 || reqs[0].Method != "PUT" || reqs[0].Path != "/people" || string(reqs[0].Body) != `{"email":"a@example.com"}` || reqs[0].Status != 201 || reqs[1].Status != 401 {
		t.Fatalf("Requests = %+v", reqs)
	}
	if b.srv.Count("GET", "/authenticate") != 1 || b.srv.Count("", "") != 2 {
		t.Fatal("Count wrong")
	}
}

func TestHandlerAndStateMounted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/klipy/api/v1/", http.StripPrefix("/sandbox/klipy/api/v1", b.srv.Handler()))
	mux.Handle("/sandbox/klipy/state", b.srv.StateHandler())
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	put, _ := http.NewRequest("PUT", front.URL+"/sandbox/klipy/api/v1/people", strings.NewReader(`{"email":"a@example.com","firstName":"Ann"}`))
	put.Header.Set("X-KLIPY-API-KEY", klipytest.DefaultAPIKey)
	resp, err := b.hc.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("mounted PUT: %d", resp.StatusCode)
	}
	resp, err = b.hc.Get(front.URL + "/sandbox/klipy/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Teams []struct {
			Name         string           `json:"name"`
			Organisation string           `json:"organisation"`
			People       []map[string]any `json:"people"`
		} `json:"teams"`
		Requests int `json:"requests"`
		Upserts  int `json:"upserts"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("state %s: %v", raw, err)
	}
	if len(st.Teams) != 1 || st.Teams[0].Name != klipytest.DefaultTeam || st.Teams[0].Organisation != klipytest.DefaultOrganisation ||
		len(st.Teams[0].People) != 1 || st.Teams[0].People[0]["firstName"] != "Ann" || st.Requests != 1 || st.Upserts != 1 {
		t.Fatalf("state = %s", raw)
	}
	if strings.Contains(string(raw), klipytest.DefaultAPIKey) {
		t.Fatal("state shows the API key")
	}
	if resp, err := b.hc.Post(front.URL+"/sandbox/klipy/state", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST state: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
