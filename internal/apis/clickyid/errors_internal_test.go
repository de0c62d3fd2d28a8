package clickyid

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
)

func TestErrorFor(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	reset := strconv.FormatInt(now.Unix()+90, 10)
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		class   error // nil: no error
		code    string
		message string
		wait    time.Duration
	}{
		{"200", 200, nil, `{}`, nil, "", "", 0},
		{"204", 204, nil, ``, nil, "", "", 0},
		{"400 code+message", 400, nil, `{"error":"invalid_target_group","message":"target group \"x\" not found","requestId":"req_1"}`,
			apis.ErrValidation, "invalid_target_group", `target group "x" not found (request req_1)`, 0},
		{"400 error string only", 400, nil, `{"error":"Invalid request format"}`, apis.ErrValidation, "", "Invalid request format", 0},
		{"400 error object", 400, nil, `{"error":{"code":"E42","message":"bad"},"requestId":"r"}`, apis.ErrValidation, "E42", "bad (request r)", 0},
		{"400 numeric code", 400, nil, `{"code":42,"message":"bad"}`, apis.ErrValidation, "42", "bad", 0},
		{"400 unknown fields", 400, nil, `{"message":"bad","extra":[1,2],"error":null}`, apis.ErrValidation, "", "bad", 0},
		{"401", 401, nil, `{"error":"unauthorized","message":"invalid API key","requestId":"req_2"}`, apis.ErrUnauthorized, "unauthorized", "invalid API key (request req_2)", 0},
		{"403", 403, nil, `{"error":"insufficient_scope","message":"API key lacks scope validate:offers"}`, apis.ErrForbidden, "insufficient_scope", "API key lacks scope validate:offers", 0},
		{"404", 404, nil, `{"error":"not_found"}`, apis.ErrNotFound, "", "not_found", 0},
		{"422", 422, nil, `{}`, apis.ErrValidation, "", "", 0},
		{"429 reset", 429, http.Header{"X-Ratelimit-Reset": {reset}, "X-Ratelimit-Remaining": {"0"}}, `{"error":"rate_limit_exceeded","message":"slow down"}`,
			apis.ErrRateLimited, "rate_limit_exceeded", "slow down", 90 * time.Second},
		{"429 retry-after", 429, http.Header{"Retry-After": {"7"}}, ``, apis.ErrRateLimited, "", "", 7 * time.Second},
		{"429 bare", 429, nil, `Too Many Requests`, apis.ErrRateLimited, "", "Too Many Requests", 0},
		{"500 html", 500, nil, "<html>\n<b>oops</b>\n</html>", apis.ErrTransient, "", "<html> <b>oops</b> </html>", 0},
		{"503 retry-after", 503, http.Header{"Retry-After": {"3"}}, `{"error":"internal_error","message":"Service Unavailable"}`, apis.ErrTransient, "internal_error", "Service Unavailable", 3 * time.Second},
		{"408", 408, nil, ``, apis.ErrTransient, "", "", 0},
		{"302", 302, nil, ``, apis.ErrTransient, "", "", 0},
		{"long message", 400, nil, `{"message":"` + strings.Repeat("é", 300) + `"}`, apis.ErrValidation, "", strings.Repeat("é", 100) + "…", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			err := errorFor("GET /offers", tt.status, h, []byte(tt.body), now)
			if tt.class == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if !errors.Is(err, tt.class) {
				t.Errorf("class: %v is not %v", err, tt.class)
			}
			if ae.API != "clickyid" || ae.Op != "GET /offers" || ae.Status != tt.status {
				t.Errorf("API/Op/Status = %q %q %d", ae.API, ae.Op, ae.Status)
			}
			if ae.Code != tt.code || ae.Message != tt.message || ae.Wait != tt.wait {
				t.Errorf("got code %q message %q wait %v; want %q %q %v", ae.Code, ae.Message, ae.Wait, tt.code, tt.message, tt.wait)
			}
			if !strings.HasPrefix(err.Error(), "clickyid: GET /offers: "+strconv.Itoa(tt.status)) {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"key ck_live_0123456789abcdef0123456789abcdef01234567 refused", "key [redacted] refused"},
		{"got Authorization: Bearer abc.def", "got Authorization: [redacted]"},
		{"a\n\tb\x00c", "a b c"},
		{"ck_test_abc", "[redacted]"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, 200); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
