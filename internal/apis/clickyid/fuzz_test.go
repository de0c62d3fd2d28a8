package clickyid

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
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

// bulkEnvelope is the outer shape as encoding/json would decode it, the
// reference scanBulk is held to.
type bulkEnvelope struct {
	Results *[]bulkResult `json:"results"`
	Data    *struct {
		Results *[]bulkResult `json:"results"`
	} `json:"data"`
}

// referenceBulk decodes a bulk answer with encoding/json.
func referenceBulk(body []byte) ([]bulkResult, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var raw []bulkResult
		err := json.Unmarshal(trimmed, &raw)
		return raw, err
	}
	var env bulkEnvelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, err
	}
	switch {
	case env.Results != nil:
		return *env.Results, nil
	case env.Data != nil && env.Data.Results != nil:
		return *env.Data.Results, nil
	}
	return nil, errors.New("no results")
}

// FuzzScanBulk holds the one-pass scanner to encoding/json: for any body
// both fail, or both give the same results.
func FuzzScanBulk(f *testing.F) {
	big, _ := bulkBody(3)
	for _, s := range []string{
		string(big),
		`{"results":[{"email":"a@uni.example","isValid":true,"targetGroup":"tg_uni","matchedDomain":"uni.example","reason":"domain_matched","validationDetails":{"mode":"any"}},{"email":"b@x.example","isValid":false,"targetGroup":null,"matchedDomain":null,"reason":"domain_not_in_target_group"}],"requestId":"req_1"}`,
		`[{"isValid":true},{"isValid":false}]`, `[null,{"EMAIL":"x","IsValid":true}]`, `[1]`, `[]`,
		`{"results":[{"email":"B@X.EXAMPLE"},{"email":"a@uni.example","targetGroup":{"id":7}}]}`,
		`{"results":[{"targetGroup":{"id":{"name":"n"}},"validationDetails":null}]}`,
		`{"results":[{"targetGroup":{"name":5}}]}`, `{"results":[{"targetGroup":[1,{"a":2}]}]}`,
		`{"data":{"results":[{"email":"a"}]}}`, `{"data":null,"results":[]}`, `{"results":null,"data":{"results":[]}}`,
		`{"data":5}`, `{"data":{"results":5}}`, `{"results":[{"email":"\u00e9\ud83d\ude00\/"}]}`,
		`{"results":[{"email":"a","email":"b","reason":null}]} `, `{"results":[]} x`, `{"results":[{"isValid":"yes"}]}`,
		`{"results":[{"reason":1.5e3}]}`, `{"results":[{"x":-0.0e+1,"y":01}]}`, `{"results":[{"email":"\x01"}]}`,
		"{\"results\":[{\"email\":\"\xff\xfe\",\"targetGroup\":\"\xc3\"}]}", `{"results":null}`, `null`, `{"trunc`, ``, `<html>`, `"x"`, `tru`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, werr := referenceBulk(body)
		got, gerr := scanBulk(body)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json err %v, scanBulk err %v, for %q", werr, gerr, body)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("for %q:\nencoding/json %+v\nscanBulk      %+v", body, want, got)
		}
	})
}
