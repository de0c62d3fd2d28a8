package clickyidtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

// do sends one request with key ("" sends no Authorization) and decodes the JSON answer.
func do(t *testing.T, s *Server, method, path, key, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	return a
}

func newServer(t *testing.T, opts ...Option) *Server {
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	const tgOnly = "ck_live_1111111111111111111111111111111111111111"
	s := newServer(t, WithAPIKey(tgOnly, ScopeTargetGroups))
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`"u%d@uni.example"`, i)
	}
	tests := []struct {
		name, method, path, key, body string
		status                        int
		code                          string
	}{
		{"no key", "GET", "/target-groups", "", "", 401, "MISSING_API_KEY"},
		{"unknown key", "GET", "/target-groups", "ck_live_ffffffffffffffffffffffffffffffffffffffff", "", 401, "INVALID_API_KEY"},
		{"missing scope", "GET", "/offers", tgOnly, "", 403, "INSUFFICIENT_SCOPE"},
		{"bulk offer without scope", "POST", "/validate/bulk", tgOnly, `{"emails":["a@uni.example"],"offerIds":["of_student_discount"]}`, 403, "INSUFFICIENT_SCOPE"},
		{"too many emails", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":[` + strings.Join(many, ",") + `],"targetGroupIds":["tg_uni"]}`, 400, "VALIDATION_ERROR"},
		{"no emails", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":[],"targetGroupIds":["tg_uni"]}`, 400, "VALIDATION_ERROR"},
		{"unknown target group", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":["a@uni.example"],"targetGroupIds":["tg_x"]}`, 400, "invalid_target_group"},
		{"unknown offer", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":["a@uni.example"],"offerIds":["of_x"]}`, 400, "invalid_offer"},
		{"bad mode", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":["a@uni.example"],"targetGroupIds":["tg_uni"],"mode":"most"}`, 400, "VALIDATION_ERROR"},
		{"bad JSON", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":`, 400, "MALFORMED_JSON"},
		{"email not a string", "POST", "/validate/bulk", DefaultAPIKey, `{"emails":[1],"targetGroupIds":["tg_uni"]}`, 400, "VALIDATION_ERROR"},
		{"wrong method", "GET", "/validate/bulk", DefaultAPIKey, "", 405, "method_not_allowed"},
		{"unknown path", "GET", "/nope", DefaultAPIKey, "", 404, "not_found"},
	}
	for _, tt := range tests {
		a := do(t, s, tt.method, tt.path, tt.key, tt.body)
		if a.status != tt.status || a.body["error"] != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, a.status, a.body, tt.status, tt.code)
		}
		if id, _ := a.body["requestId"].(string); !strings.HasPrefix(id, "req_") {
			t.Errorf("%s: requestId %q", tt.name, id)
		}
		if msg, _ := a.body["message"].(string); msg == "" {
			t.Errorf("%s: no message", tt.name)
		}
	}
	if s.Validated() != 0 {
		t.Errorf("Validated() = %d after refusals", s.Validated())
	}
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	before := time.Now()
	a := do(t, s, "GET", "/target-groups", DefaultAPIKey, "")
	if a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	if got := a.header.Get("X-RateLimit-Limit"); got != "1000" {
		t.Errorf("X-RateLimit-Limit = %q, want 1000 (the real default)", got)
	}
	if got := a.header.Get("X-RateLimit-Remaining"); got != "999" {
		t.Errorf("X-RateLimit-Remaining = %q", got)
	}
	reset, err := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset <= before.Unix() || reset > before.Add(time.Hour).Unix()+1 {
		t.Errorf("X-RateLimit-Reset = %q, want Unix seconds within the hour", a.header.Get("X-RateLimit-Reset"))
	}
	// A bad key is refused before it is counted, so it sees no limit headers.
	a = do(t, s, "GET", "/target-groups", "ck_live_ffffffffffffffffffffffffffffffffffffffff", "")
	if a.status != 401 || a.header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("bad key: %d, headers %v", a.status, a.header)
	}
}

func TestRateLimitEnforced(t *testing.T) {
	t.Parallel()
	const other = "ck_live_2222222222222222222222222222222222222222"
	fixed := time.Unix(1_700_000_000, 0) // 1_699_999_200 is the window start for 1h windows
	s := newServer(t,
		WithAPIKey(other, ScopeTargetGroups, ScopeOffers),
		WithClock(func() time.Time { return fixed }),
		WithRateLimit(apistest.RateLimit{Limit: 3, Window: time.Hour, Headers: true}),
	)
	for i := 0; i < 3; i++ {
		if a := do(t, s, "GET", "/offers", DefaultAPIKey, ""); a.status != 200 {
			t.Fatalf("request %d: %d", i+1, a.status)
		}
	}
	a := do(t, s, "GET", "/offers", DefaultAPIKey, "")
	if a.status != 429 || a.body["error"] != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("over the limit: %d %v", a.status, a.body)
	}
	if a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != "1700002800" {
		t.Errorf("429 headers: %v", a.header)
	}
	// Limits are per key.
	if a := do(t, s, "GET", "/offers", other, ""); a.status != 200 {
		t.Errorf("other key: %d", a.status)
	}
	if s.RateLimited() != 1 {
		t.Errorf("RateLimited() = %d", s.RateLimited())
	}
	// Disabled, nothing is refused and no headers are sent.
	s.SetRateLimit(apistest.RateLimit{})
	a = do(t, s, "GET", "/offers", DefaultAPIKey, "")
	if a.status != 200 || a.header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("disabled: %d %v", a.status, a.header)
	}
}

func TestBulkAnswer(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	a := do(t, s, "POST", "/validate/bulk", DefaultAPIKey,
		`{"emails":["z@corp.example","a@cs.uni.example","bad"],"targetGroupIds":["tg_uni","tg_corp"],"mode":"any","unknown":true}`)
	if a.status != 200 {
		t.Fatalf("status %d: %v", a.status, a.body)
	}
	if id, _ := a.body["requestId"].(string); !strings.HasPrefix(id, "req_") {
		t.Errorf("requestId %q", id)
	}
	results, _ := a.body["results"].([]any)
	if len(results) != 3 {
		t.Fatalf("results %v", a.body["results"])
	}
	want := []string{
		`{"email":"z@corp.example","isValid":true,"matchedDomain":"corp.example","reason":"domain_matched","targetGroup":{"id":"tg_corp","name":"Corporate staff"}}`,
		`{"email":"a@cs.uni.example","isValid":true,"matchedDomain":"uni.example","reason":"domain_matched","targetGroup":{"id":"tg_uni","name":"University students"}}`,
		`{"email":"bad","isValid":false,"matchedDomain":null,"reason":"invalid_format","targetGroup":null}`,
	}
	for i, r := range results {
		m := r.(map[string]any)
		if _, ok := m["validationDetails"].(map[string]any); !ok {
			t.Errorf("result %d: validationDetails %v", i, m["validationDetails"])
		}
		delete(m, "validationDetails")
		got, _ := json.Marshal(m)
		if string(got) != want[i] {
			t.Errorf("result %d = %s\nwant %s", i, got, want[i])
		}
	}
	if s.Validated() != 3 || s.Count("POST", "/validate/bulk") != 1 {
		t.Errorf("Validated() = %d, Count = %d", s.Validated(), s.Count("POST", "/validate/bulk"))
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithOffer(Offer{ID: "of_corp", Name: "Corp", TargetGroupIDs: []string{"tg_corp"}}))
	a := do(t, s, "GET", "/target-groups", DefaultAPIKey, "")
	got, _ := json.Marshal(a.body["targetGroups"])
	const wantGroups = `[{"domains":["uni.example","student.example"],"id":"tg_uni","name":"University students"},{"domains":["corp.example"],"id":"tg_corp","name":"Corporate staff"}]`
	if string(got) != wantGroups {
		t.Errorf("targetGroups = %s", got)
	}
	a = do(t, s, "GET", "/offers", DefaultAPIKey, "")
	got, _ = json.Marshal(a.body["offers"])
	const wantOffers = `[{"id":"of_student_discount","name":"Student discount","targetGroupIds":["tg_uni"]},{"id":"of_corp","name":"Corp","targetGroupIds":["tg_corp"]}]`
	if string(got) != wantOffers {
		t.Errorf("offers = %s", got)
	}
}

func TestInjectedFailureBody(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetFaults(apistest.Faults{FailRate: 1, FailStatus: 502}, 1)
	a := do(t, s, "GET", "/offers", DefaultAPIKey, "")
	if a.status != 502 || a.body["error"] != "internal_error" || a.body["requestId"] == nil {
		t.Errorf("injected failure: %d %v", a.status, a.body)
	}
	if s.FaultsInjected()["fail"] != 1 {
		t.Errorf("FaultsInjected = %v", s.FaultsInjected())
	}
}

func TestStateHandler(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithAPIKey("ck_live_3333333333333333333333333333333333333333"))
	do(t, s, "POST", "/validate/bulk", DefaultAPIKey, `{"emails":["a@uni.example","b@x.example"],"offerIds":["of_student_discount"]}`)
	rec := httptest.NewRecorder()
	s.StateHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if strings.Contains(rec.Body.String(), DefaultAPIKey) || strings.Contains(rec.Body.String(), "3333333333333333") {
		t.Fatalf("state leaks a key: %s", rec.Body.String())
	}
	var st State
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Validated != 2 || st.Requests != 1 || len(st.APIKeys) != 2 || len(st.TargetGroups) != 2 || len(st.Offers) != 1 {
		t.Errorf("state = %+v", st)
	}
	if k := st.APIKeys[0]; k.Key != "ck_live_0123…4567" || strings.Join(k.Scopes, ",") != "validate:offers,validate:target-groups" {
		t.Errorf("key state = %+v", k)
	}
	rec = httptest.NewRecorder()
	s.StateHandler().ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 405 {
		t.Errorf("POST state: %d", rec.Code)
	}
}
