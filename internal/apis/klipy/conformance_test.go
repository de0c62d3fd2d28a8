package klipy_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/conformance"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
)

// TestConformanceClient replays every recorded answer through the client
// and checks the outcome class, code and result (for a 429, Result is the
// wait in seconds the client must report).
func TestConformanceClient(t *testing.T) {
	t.Parallel()
	for _, c := range conformance.LoadCases(t) {
		if c.Call == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv := conformance.NewReplay(t, c, nil)
			cl, err := klipy.New(klipy.Config{BaseURL: srv.URL, APIKey: klipytest.DefaultAPIKey, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			var result any
			switch c.Call {
			case "authenticate":
				result, err = cl.Authenticate(t.Context())
			case "upsert":
				var p klipy.Person
				if err := json.Unmarshal(c.Args, &p); err != nil {
					t.Fatal(err)
				}
				var r *klipy.PersonResult
				r, err = cl.UpsertPerson(t.Context(), p)
				if r != nil {
					result = *r
				}
			default:
				t.Fatalf("unknown call %q", c.Call)
			}
			srv.Hit(t, c)
			if c.Want.Class == "" {
				if err != nil {
					t.Fatalf("%v, want success", err)
				}
				want := reflect.New(reflect.TypeOf(result)).Interface()
				if err := json.Unmarshal(c.Want.Result, want); err != nil {
					t.Fatal(err)
				}
				if w := reflect.ValueOf(want).Elem().Interface(); !reflect.DeepEqual(w, result) {
					t.Fatalf("result %+v, want %+v", result, w)
				}
				return
			}
			var ae *apis.Error
			if !errors.Is(err, conformance.Classes[c.Want.Class]) || !errors.As(err, &ae) || ae.Code != c.Want.Code {
				t.Fatalf("err = %v, want class %s code %q", err, c.Want.Class, c.Want.Code)
			}
			for _, s := range c.Want.Contains {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not contain %q", err, s)
				}
			}
			if len(c.Want.Result) > 0 && c.Want.Class == "rate_limited" {
				var secs int
				_ = json.Unmarshal(c.Want.Result, &secs)
				if d, _ := apis.RetryAfter(err); d != time.Duration(secs)*time.Second {
					t.Fatalf("RetryAfter = %v, want %ds", d, secs)
				}
			}
		})
	}
}

// TestConformanceFake sends every case's request to the fake and compares
// its answer with the recording.
func TestConformanceFake(t *testing.T) {
	t.Parallel()
	const readOnly = "klipy_api_readonly0123456789"
	for _, c := range conformance.LoadCases(t) {
		if c.Fake.Skip != "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opts := []klipytest.Option{klipytest.WithAPIKey(klipytest.APIKey{Key: readOnly, ReadOnly: true})}
			switch c.Fake.Setup {
			case "legacy-authenticate":
				opts = append(opts, klipytest.WithLegacyAuthenticate())
			case "key-limit-spent":
				opts = append(opts, klipytest.WithRateLimits(apistest.RateLimit{Limit: 1, Window: time.Hour, Headers: true, RetryAfter: true}, klipytest.RealOrgRateLimit))
			}
			srv := klipytest.NewServer(opts...)
			t.Cleanup(srv.Close)
			hdr := http.Header{"X-Klipy-Api-Key": {klipytest.DefaultAPIKey}}
			switch c.Fake.Setup {
			case "no-key":
				hdr.Del("X-Klipy-Api-Key")
			case "read-only-key":
				hdr.Set("X-Klipy-Api-Key", readOnly)
			case "person", "key-limit-spent":
				cl, err := klipy.New(klipy.Config{BaseURL: srv.URL, APIKey: klipytest.DefaultAPIKey})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cl.UpsertPerson(t.Context(), klipy.Person{"email": "ann@example.com"}); err != nil {
					t.Fatal(err)
				}
			}
			conformance.CheckFake(t, c, srv.URL, hdr)
		})
	}
}
