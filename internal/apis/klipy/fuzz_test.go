package klipy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
)

// FuzzDecode feeds arbitrary statuses and bodies to every decoder of API
// answers. None may panic; each must answer with a result or an *APIError of
// exactly one class, and no error may contain the key even when the body
// echoes it.
func FuzzDecode(f *testing.F) {
	const key = "fuzz_key_0xDEADBEEF"
	for _, seed := range []struct {
		status int
		body   string
	}{
		{201, `{"object":"success","data":{"id":"per_000001","email":"a@b.c","created_at":"2026-01-01T00:00:00Z"},"meta":{"request_id":"req_1"}}`},
		{200, `{"object":"success","data":{"team_name":"Sandbox Team"},"meta":{"request_id":"req_2"}}`},
		{200, `{"object":"success","data":{"id":5,"created":true}}`},
		{422, `{"object":"error","error":{"code":"invalid_email","message":"email is not valid"},"meta":{"request_id":"req_3"}}`},
		{401, `{"object":"error","error":{"code":"unauthorized","message":"bad key ` + key + `"}}`},
		{429, `{"error":"rate_limit_exceeded"}`},
		{500, `<html>Bearer ` + key + `</html>`},
		{200, `{"trunc`},
		{200, `null`},
		{200, `{"data":null}`},
		{200, `{"object":"error","error":"x"}`},
		{302, ``},
	} {
		f.Add(seed.status, []byte(seed.body), "3")
	}
	classes := []error{apis.ErrRateLimited, apis.ErrUnauthorized, apis.ErrForbidden, apis.ErrNotFound, apis.ErrValidation, apis.ErrTransient}
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		h := http.Header{"Retry-After": {retryAfter}, "X-Ratelimit-Reset": {retryAfter}, "X-Ratelimit-Remaining": {"0"}}
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%s: err %T is not an *APIError", what, err)
			}
			n := 0
			for _, c := range classes {
				if errors.Is(err, c) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s: err %v matches %d classes", what, err, n)
			}
			if ae.Wait < 0 {
				t.Fatalf("%s: negative wait %v", what, ae.Wait)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatalf("%s: err %q leaks the key", what, err)
			}
		}
		err := errorFor("PUT /people", status, h, body, time.Unix(1_800_000_000, 0), key)
		if (err == nil) != (status >= 200 && status < 300) {
			t.Fatalf("errorFor(%d) = %v", status, err)
		}
		check("errorFor", err)
		if err != nil {
			return
		}
		r, err := decodePerson("PUT /people", status, body, key)
		if (r == nil) == (err == nil) {
			t.Fatalf("decodePerson = %v, %v", r, err)
		}
		if r != nil && (r.ID == "" || strings.Contains(r.ID+r.RequestID, key)) {
			t.Fatalf("decodePerson result %+v", r)
		}
		check("decodePerson", err)
		team, err := decodeTeam("GET /authenticate", status, body, key)
		if team != "" && err != nil {
			t.Fatalf("decodeTeam = %q, %v", team, err)
		}
		if strings.Contains(team, key) {
			t.Fatalf("decodeTeam = %q leaks the key", team)
		}
		check("decodeTeam", err)
	})
}
