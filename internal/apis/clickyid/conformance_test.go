package clickyid_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/conformance"
)

// TestConformanceClient replays every recorded answer through the client
// and checks the outcome class, code and results.
func TestConformanceClient(t *testing.T) {
	t.Parallel()
	for _, c := range conformance.LoadCases(t) {
		if c.Call == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv := conformance.NewReplay(t, c, nil)
			cl, err := clickyid.New(clickyid.Config{BaseURL: srv.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			var args struct {
				Emails         []string `json:"emails"`
				TargetGroupIDs []string `json:"targetGroupIds"`
				Mode           string   `json:"mode"`
			}
			if len(c.Args) > 0 {
				if err := json.Unmarshal(c.Args, &args); err != nil {
					t.Fatal(err)
				}
			}
			var result any
			switch c.Call {
			case "bulk":
				result, err = cl.ValidateBulk(t.Context(), clickyid.BulkRequest{Emails: args.Emails, TargetGroupIDs: args.TargetGroupIDs, Mode: args.Mode})
			case "targetGroups":
				result, err = cl.TargetGroups(t.Context())
			case "offers":
				result, err = cl.Offers(t.Context())
			default:
				t.Fatalf("unknown call %q", c.Call)
			}
			srv.Hit(t, c)
			if c.Want.Class == "" {
				if err != nil {
					t.Fatalf("%v, want success", err)
				}
				if len(c.Want.Result) > 0 {
					want := reflect.New(reflect.TypeOf(result)).Interface()
					if err := json.Unmarshal(c.Want.Result, want); err != nil {
						t.Fatal(err)
					}
					if w := reflect.ValueOf(want).Elem().Interface(); !reflect.DeepEqual(w, result) {
						t.Fatalf("result %+v\nwant %+v", result, w)
					}
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
		})
	}
}

// TestConformanceFake sends every case's request to the fake and compares
// its answer with the recording.
func TestConformanceFake(t *testing.T) {
	t.Parallel()
	const tgOnly = "ck_live_1111111111111111111111111111111111111111"
	for _, c := range conformance.LoadCases(t) {
		if c.Fake.Skip != "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			opts := []clickyidtest.Option{clickyidtest.WithAPIKey(tgOnly, clickyidtest.ScopeTargetGroups)}
			if c.Fake.Setup == "bulk-spent" {
				opts = append(opts, clickyidtest.WithLimits(clickyidtest.Limits{
					Hourly:  clickyidtest.DefaultRateLimit,
					Classes: map[clickyidtest.Class]clickyidtest.ClassLimit{clickyidtest.ClassBulk: {Limit: 1, Burst: 1, Window: time.Hour}},
				}))
			}
			srv := clickyidtest.NewServer(opts...)
			t.Cleanup(srv.Close)
			hdr := http.Header{"Authorization": {"Bearer " + clickyidtest.DefaultAPIKey}}
			switch c.Fake.Setup {
			case "unknown-key":
				hdr.Set("Authorization", "Bearer ck_live_ffffffffffffffffffffffffffffffffffffffff")
			case "no-key":
				hdr.Del("Authorization")
			case "target-groups-only-key":
				hdr.Set("Authorization", "Bearer "+tgOnly)
			case "bulk-spent":
				cl, err := clickyid.New(clickyid.Config{BaseURL: srv.URL, APIKey: clickyidtest.DefaultAPIKey})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cl.ValidateBulk(t.Context(), clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{"tg_uni"}}); err != nil {
					t.Fatal(err)
				}
			}
			conformance.CheckFake(t, c, srv.URL, hdr)
		})
	}
}
