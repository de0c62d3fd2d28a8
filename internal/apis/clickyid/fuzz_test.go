package clickyid

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeBulk feeds arbitrary bodies to the bulk decoder: it must not
// panic, and when it succeeds it answers every email in order.
func FuzzDecodeBulk(f *testing.F) {
	for _, s := range []string{
		`{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":"tg_uni","matchedDomain":"uni.example","reason":"domain_matched","validationDetails":{"mode":"any"}},{"email":"b@x.example","isValid":false,"targetGroup":null,"matchedDomain":null,"reason":"domain_not_in_target_group"}],"requestId":"req_1"}`,
		`[{"isValid":true},{"isValid":false}]`,
		`{"results":[{"email":"B@X.EXAMPLE"},{"email":"a@uni.example","targetGroup":{"id":7}}]}`,
		`{"results":null}`, `null`, `{"trunc`, ``, `<html>`,
	} {
		f.Add([]byte(s), "a@uni.example,b@x.example")
	}
	f.Fuzz(func(t *testing.T, body []byte, list string) {
		emails := strings.Split(list, ",")
		res, err := decodeBulk(body, emails)
		if err != nil {
			return
		}
		if len(res) != len(emails) {
			t.Fatalf("%d results for %d emails", len(res), len(emails))
		}
		for i, r := range res {
			if r.Email != emails[i] {
				t.Fatalf("result %d is for %q, want %q", i, r.Email, emails[i])
			}
		}
	})
}

// FuzzDecodeError feeds arbitrary error answers to errorFor: it must not
// panic, must always return an error for non-2xx, and its text must stay
// one bounded line without a key.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{
		`{"error":"invalid_target_group","message":"target group \"x\" not found","requestId":"req_1"}`,
		`{"error":{"code":"E","message":"m"}}`, `{"code":5}`, `oops ck_live_0123456789abcdef0123456789abcdef01234567`, ``, `null`,
	} {
		f.Add(400, []byte(s), "")
		f.Add(429, []byte(s), "1700000090")
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, status int, body []byte, reset string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{}
		h.Set("X-RateLimit-Reset", reset)
		err := errorFor("POST /validate/bulk", status, h, body, now)
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("2xx gave %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("status %d gave no error", status)
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\n\r") || len(msg) > 512 {
			t.Fatalf("error text not one bounded line: %q", msg)
		}
		if utf8.ValidString(string(body)) && strings.Contains(msg, "ck_live_") {
			t.Fatalf("error text carries a key: %q", msg)
		}
	})
}
