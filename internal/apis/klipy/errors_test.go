package klipy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
)

func TestErrorFor(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	const env = `{"object":"error","error":{"code":"%s","message":"msg"},"meta":{"request_id":"req_1"}}`
	envelope := func(code string) string { return strings.Replace(env, "%s", code, 1) }
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		class   error
		code    string
		wait    time.Duration
		message string
	}{
		{"200", 200, nil, `{}`, nil, "", 0, ""},
		{"201", 201, nil, ``, nil, "", 0, ""},
		{"400", 400, nil, envelope("invalid_json"), apis.ErrValidation, "invalid_json", 0, "msg (request req_1)"},
		{"422", 422, nil, envelope("invalid_email"), apis.ErrValidation, "invalid_email", 0, "msg (request req_1)"},
		{"409", 409, nil, envelope("conflict"), apis.ErrValidation, "conflict", 0, "msg (request req_1)"},
		{"401", 401, nil, envelope("unauthorized"), apis.ErrUnauthorized, "unauthorized", 0, "msg (request req_1)"},
		{"403", 403, nil, envelope("forbidden"), apis.ErrForbidden, "forbidden", 0, "msg (request req_1)"},
		{"404", 404, nil, envelope("not_found"), apis.ErrNotFound, "not_found", 0, "msg (request req_1)"},
		{"429 retry-after", 429, http.Header{"Retry-After": {"7"}}, envelope("rate_limit_exceeded"), apis.ErrRateLimited, "rate_limit_exceeded", 7 * time.Second, "msg (request req_1)"},
		{"429 reset", 429, http.Header{"X-Ratelimit-Reset": {"1800000030"}, "X-Ratelimit-Remaining": {"0"}}, envelope("rate_limit_exceeded"), apis.ErrRateLimited, "rate_limit_exceeded", 30 * time.Second, "msg (request req_1)"},
		{"429 no hint", 429, nil, `{}`, apis.ErrRateLimited, "", 0, ""},
		{"500", 500, nil, envelope("internal_error"), apis.ErrTransient, "internal_error", 0, "msg (request req_1)"},
		{"503 retry-after", 503, http.Header{"Retry-After": {"2"}}, `upstream down`, apis.ErrTransient, "", 2 * time.Second, "upstream down"},
		{"502 html", 502, nil, "<html>\n<b>Bad   gateway</b>\n</html>", apis.ErrTransient, "", 0, "<html> <b>Bad gateway</b> </html>"},
		{"304", 304, nil, ``, apis.ErrTransient, "", 0, ""},
		{"error string", 400, nil, `{"error":"bad_request","message":"nope"}`, apis.ErrValidation, "bad_request", 0, "nope"},
		{"error string only", 400, nil, `{"error":"nope"}`, apis.ErrValidation, "", 0, "nope"},
		{"top-level", 422, nil, `{"code":"invalid_email","message":"bad","request_id":"r9"}`, apis.ErrValidation, "invalid_email", 0, "bad (request r9)"},
		{"numeric code", 422, nil, `{"error":{"code":17,"message":"m"}}`, apis.ErrValidation, "17", 0, "m"},
		{"request id header", 404, http.Header{"X-Request-Id": {"hdr_1"}}, `{"error":{"code":"not_found"}}`, apis.ErrNotFound, "not_found", 0, "(request hdr_1)"},
		{"unknown fields", 403, nil, `{"object":"error","error":{"code":"forbidden","message":"m","docs":"x"},"meta":{"request_id":"r","x":1},"y":[]}`, apis.ErrForbidden, "forbidden", 0, "m (request r)"},
		{"echoed key", 401, nil, `{"error":{"code":"unauthorized","message":"key SECRETKEY123 unknown"}}`, apis.ErrUnauthorized, "unauthorized", 0, "key [redacted] unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			err := errorFor("PUT /people", tt.status, h, []byte(tt.body), now, "SECRETKEY123")
			if tt.class == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || !errors.Is(err, tt.class) {
				t.Fatalf("err = %v, want class %v", err, tt.class)
			}
			if ae.Code != tt.code || ae.Wait != tt.wait || ae.Message != tt.message || ae.Status != tt.status {
				t.Errorf("err = %+v, want code %q wait %v message %q", ae, tt.code, tt.wait, tt.message)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	err := errorFor("PUT /people", 422, http.Header{}, []byte(`{"object":"error","error":{"code":"invalid_email","message":"email is not a valid email address"},"meta":{"request_id":"req_42"}}`), time.Now(), "k")
	const want = "klipy: PUT /people: 422 error invalid_email: email is not a valid email address (request req_42)"
	if err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

func TestCleanTruncates(t *testing.T) {
	t.Parallel()
	got := clean(strings.Repeat("é", 300), 11, "")
	if len(got) > 11+len("…") || !strings.HasSuffix(got, "…") || strings.ContainsRune(got, '\uFFFD') {
		t.Fatalf("clean = %q", got)
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		id      string
		created bool
		reqID   string
		wantErr string
	}{
		{"created", 201, `{"object":"success","data":{"id":"per_1","email":"a@b.c"},"meta":{"request_id":"req_1"}}`, "per_1", true, "req_1", ""},
		{"updated", 200, `{"object":"success","data":{"id":"per_1"},"meta":{"request_id":"req_2"}}`, "per_1", false, "req_2", ""},
		{"created flag", 200, `{"object":"success","data":{"id":12,"created":true}}`, "12", true, "", ""},
		{"bare object", 200, `{"id":"p","extra":{"x":[1]}}`, "p", false, "", ""},
		{"no id", 200, `{"object":"success","data":{}}`, "", false, "", "no person id"},
		{"data not object", 200, `{"object":"success","data":[1]}`, "", false, "", `"data" is not an object`},
		{"null", 200, `null`, "", false, "", "body is null"},
		{"truncated", 200, `{"trunc`, "", false, "", "undecodable"},
		{"empty", 204, ``, "", false, "", "undecodable"},
		{"error envelope", 200, `{"object":"error","error":{"code":"x","message":"y"}}`, "", false, "", "error envelope on a success status"},
		{"created not bool", 200, `{"data":{"id":"p","created":"yes"}}`, "", false, "", `"created" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := decodePerson("PUT /people", tt.status, []byte(tt.body), "k")
			if tt.wantErr != "" {
				if !errors.Is(err, apis.ErrTransient) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want transient %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || r.ID != tt.id || r.Created != tt.created || r.RequestID != tt.reqID {
				t.Fatalf("decodePerson = %+v, %v", r, err)
			}
		})
	}
	team, err := decodeTeam("GET /authenticate", 200, []byte(`{"team_name":"Bare"}`), "k")
	if err != nil || team != "Bare" {
		t.Fatalf("decodeTeam bare = %q, %v", team, err)
	}
	// The current docs return "your organization name" inside data; a
	// missing name is not a failure of the check.
	for body, want := range map[string]string{
		`{"object":"success","data":{"organization_name":"Acme"},"meta":{"request_id":"r"}}`: "Acme",
		`{"object":"success","data":{"organization":{"id":"org_1","name":"Acme"}}}`:          "Acme",
		`{"object":"success","data":{"organization":"Acme"}}`:                                "Acme",
		`{"object":"success","data":{"name":"Acme"}}`:                                        "Acme",
		`{"object":"success","data":{"team_name":"Acme"}}`:                                   "Acme",
		`{"object":"success","data":{}}`:                                                     "",
		`{"object":"success","data":{"organization":{"id":"org_1"}}}`:                        "",
	} {
		if team, err := decodeTeam("GET /authenticate", 200, []byte(body), "k"); err != nil || team != want {
			t.Errorf("decodeTeam(%s) = %q, %v; want %q", body, team, err, want)
		}
	}
}

// TestErrorDetails: errors carry code, message and optional details (the
// current docs); the details reach the message, secrets redacted.
func TestErrorDetails(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"object":"error","error":{"code":"invalid_email","message":"email is invalid","details":{"field":"email"}}}`:    "422 error invalid_email: email is invalid: field: email",
		`{"object":"error","error":{"code":"validation_error","message":"bad","details":[{"field":"phone"},"too long"]}}`: "422 error validation_error: bad: field: phone; too long",
		`{"code":"insufficient_scope","message":"missing scope","details":"people:write"}`:                                "422 error insufficient_scope: missing scope: people:write",
		`{"object":"error","error":{"code":"x","message":"m","details":{"echo":"klipy_api_secret"}}}`:                     "422 error x: m: echo: [redacted]",
	} {
		err := errorFor("PUT /people", 422, nil, []byte(body), time.Now(), "klipy_api_secret")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errorFor(%s) = %v, want it to contain %q", body, err, want)
		}
	}
}
