package klicktipp

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
)

func TestErrorFrom(t *testing.T) {
	t.Parallel()
	retry := http.Header{"Retry-After": []string{"7"}}
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		class   error
		code    string
		message string
		wait    time.Duration
	}{
		{"invalid email", 406, nil, `{"error":5}`, apis.ErrValidation, "5", "invalid email", 0},
		{"field validation", 406, nil, `{"error": 8}`, apis.ErrValidation, "8", "field validation failed", 0},
		{"email required", 406, nil, `{"error":32}`, apis.ErrValidation, "32", "email address or SMS number required", 0},
		{"list not found", 406, nil, `{"error":402}`, apis.ErrValidation, "402", "list not found", 0},
		{"tag not found", 406, nil, `{"error":"403"}`, apis.ErrValidation, "403", "tag not found", 0},
		{"update failed with code", 406, nil, `{"error":10,"code":4}`, apis.ErrValidation, "10", "subscriber update failed (code 4)", 0},
		{"unknown code", 406, nil, `{"error":999}`, apis.ErrValidation, "999", "unknown error", 0},
		{"invalid api key", 406, nil, `{"error":100}`, apis.ErrUnauthorized, "100", "invalid API key", 0},
		{"406 as strings", 406, nil, `["Tag name exists.","again"]`, apis.ErrValidation, "", "Tag name exists.; again", 0},
		{"406 error message", 406, nil, `{"error":"Something odd."}`, apis.ErrValidation, "", "Something odd.", 0},
		{"wrong login", 401, nil, `["Wrong username or password."]`, apis.ErrUnauthorized, "", "Wrong username or password.", 0},
		{"access denied", 403, nil, `["API access denied."]`, apis.ErrUnauthorized, "", "API access denied.", 0},
		{"access denied, German (php-client recording)", 403, nil, `["API Zugriff verweigert"]`, apis.ErrUnauthorized, "", "API Zugriff verweigert", 0},
		{"401 with an error code (php-client recording)", 401, nil, `{"error": 32}`, apis.ErrValidation, "32", "email address or SMS number required", 0},
		{"field validation with details (n8n node)", 406, nil, `{"error":8,"field":"Lead Value","name":"fieldLeadValue","field_value":"abc","reason":"must be a numeric value"}`, apis.ErrValidation, "8", `field validation failed: fieldLeadValue "Lead Value" must be a numeric value (value "abc")`, 0},
		{"403 empty", 403, nil, ``, apis.ErrUnauthorized, "", "Forbidden", 0},
		{"403 other", 403, nil, `["Your tier does not include the API."]`, apis.ErrForbidden, "", "Your tier does not include the API.", 0},
		{"not found", 404, nil, `["There is no such entity."]`, apis.ErrNotFound, "", "There is no such entity.", 0},
		{"bad request", 400, nil, `["The key \"username\" must be a string."]`, apis.ErrValidation, "", `The key "username" must be a string.`, 0},
		{"rate limited", 429, retry, `["Too many requests."]`, apis.ErrRateLimited, "", "Too many requests.", 7 * time.Second},
		{"rate limited no body", 429, nil, ``, apis.ErrRateLimited, "", "Too Many Requests", 0},
		{"server error html", 502, nil, `<html><body>Bad gateway</body></html>`, apis.ErrTransient, "", "Bad Gateway", 0},
		{"unavailable with retry", 503, retry, `["Service Unavailable"]`, apis.ErrTransient, "", "Service Unavailable", 7 * time.Second},
		{"timeout", 408, nil, ``, apis.ErrTransient, "", "Request Timeout", 0},
		{"conflict", 409, nil, `[]`, apis.ErrValidation, "", "Conflict", 0},
		{"redirect", 302, nil, ``, apis.ErrTransient, "", "Found", 0},
	}
	classes := []error{apis.ErrRateLimited, apis.ErrUnauthorized, apis.ErrForbidden, apis.ErrNotFound, apis.ErrValidation, apis.ErrTransient}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := errorFrom("POST /subscriber", tt.status, tt.header, []byte(tt.body), nil)
			for _, c := range classes {
				if got, want := errors.Is(e, c), c == tt.class; got != want {
					t.Errorf("errors.Is(%v) = %v, want %v", c, got, want)
				}
			}
			if e.Code != tt.code || e.Message != tt.message || e.Status != tt.status {
				t.Errorf("got status %d code %q message %q, want %d %q %q", e.Status, e.Code, e.Message, tt.status, tt.code, tt.message)
			}
			if e.Wait != tt.wait {
				t.Errorf("Wait = %v, want %v", e.Wait, tt.wait)
			}
			if !strings.HasPrefix(e.Error(), "klicktipp: POST /subscriber: ") {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestErrorMessageFormat(t *testing.T) {
	t.Parallel()
	e := errorFrom("POST /subscriber", 406, nil, []byte(`{"error":5}`), nil)
	if got, want := e.Error(), "klicktipp: POST /subscriber: 406 error 5: invalid email"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestErrorMessageClipped(t *testing.T) {
	t.Parallel()
	long := `["` + strings.Repeat("ä", 400) + `\n x"]`
	e := errorFrom("GET /tag", 400, nil, []byte(long), nil)
	if len(e.Message) > maxMessage+len("…") || strings.ContainsAny(e.Message, "\n\r") {
		t.Fatalf("message not clipped to one line: %d bytes", len(e.Message))
	}
	if !strings.HasSuffix(e.Message, "…") {
		t.Fatalf("message %q has no ellipsis", e.Message[len(e.Message)-10:])
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	got := redact("pw hunter22 sid abcdef ck", []string{"hunter22", "ab"}, "abcdef")
	if got != "pw [redacted] sid [redacted] ck" {
		t.Fatalf("redact = %q", got)
	}
}
