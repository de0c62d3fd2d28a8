package klicktipp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"crmsync/internal/apis"
	"crmsync/internal/apis/conformance"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// checkOutcome asserts err (and result) against want.
func checkOutcome(t *testing.T, c conformance.Case, result any, err error) {
	t.Helper()
	if c.Want.Class == "" {
		if err != nil {
			t.Fatalf("%s: %v, want success", c.Name, err)
		}
		if len(c.Want.Result) > 0 {
			want := reflect.New(reflect.TypeOf(result)).Interface()
			if err := json.Unmarshal(c.Want.Result, want); err != nil {
				t.Fatalf("%s: want.result: %v", c.Name, err)
			}
			if got := reflect.ValueOf(want).Elem().Interface(); !reflect.DeepEqual(got, result) {
				t.Fatalf("%s: result %+v, want %+v", c.Name, result, got)
			}
		}
		return
	}
	class, ok := conformance.Classes[c.Want.Class]
	if !ok {
		t.Fatalf("%s: unknown class %q", c.Name, c.Want.Class)
	}
	var ae *apis.Error
	if !errors.Is(err, class) || !errors.As(err, &ae) {
		t.Fatalf("%s: err = %v, want class %s", c.Name, err, c.Want.Class)
	}
	if ae.Code != c.Want.Code {
		t.Fatalf("%s: code %q, want %q", c.Name, ae.Code, c.Want.Code)
	}
	for _, s := range c.Want.Contains {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q does not contain %q", c.Name, err, s)
		}
	}
}

// subscriberResult is the part of a Subscriber the cases check.
type subscriberResult struct {
	ID     int64  `json:"id"`
	ListID int64  `json:"listid"`
	Status string `json:"status"`
	Email  string `json:"email"`
}

// TestConformanceClient replays every recorded answer through the client
// (session mode) and checks the outcome class and fields.
func TestConformanceClient(t *testing.T) {
	t.Parallel()
	for _, c := range conformance.LoadCases(t) {
		if c.Call == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			srv := conformance.NewReplay(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/account/login":
					_, _ = io.WriteString(w, `{"sessid":"sid-0123456789","session_name":"SSESSx","account":{}}`)
				default:
					_, _ = io.WriteString(w, `[true]`)
				}
			})
			var args struct {
				Name   string            `json:"name"`
				Email  string            `json:"email"`
				Fields map[string]string `json:"fields"`
				TagIDs []int64           `json:"tagids"`
			}
			if len(c.Args) > 0 {
				if err := json.Unmarshal(c.Args, &args); err != nil {
					t.Fatal(err)
				}
			}
			password := klicktipptest.Password
			if c.Call == "login" {
				var in struct{ Password string }
				_ = json.Unmarshal(c.Request.Body, &in)
				password = in.Password
			}
			cl, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: klicktipptest.Username, Password: password, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			s, err := cl.Login(ctx)
			if c.Call == "login" {
				checkOutcome(t, c, nil, err)
				if err == nil {
					_ = s.Logout(context.Background())
				}
				srv.Hit(t, c)
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			var result any
			switch c.Call {
			case "logout":
				err = s.Logout(ctx)
			case "tags":
				var m map[int64]string
				m, err = s.Tags(ctx)
				result = m
			case "createTag":
				var id int64
				id, err = s.CreateTag(ctx, args.Name)
				result = id
			case "subscribe":
				var sub *klicktipp.Subscriber
				sub, err = s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: args.Email, Fields: args.Fields})
				if sub != nil {
					result = subscriberResult{ID: sub.ID, ListID: sub.ListID, Status: sub.Status, Email: sub.Email}
				}
			case "search":
				var id int64
				id, err = s.Search(ctx, args.Email)
				result = id
			case "tag":
				err = s.Tag(ctx, args.Email, args.TagIDs)
			case "fields":
				var m map[string]string
				m, err = s.Fields(ctx)
				result = m
			case "lists":
				var m map[int64]string
				m, err = s.Lists(ctx)
				result = m
			default:
				t.Fatalf("unknown call %q", c.Call)
			}
			if c.Call != "logout" {
				_ = s.Logout(context.Background())
			}
			checkOutcome(t, c, result, err)
			srv.Hit(t, c)
		})
	}
}

// TestConformanceFake sends the request of every case to the fake and
// compares its answer with the recording, so a fake that drifts from the
// evidence fails.
func TestConformanceFake(t *testing.T) {
	t.Parallel()
	for _, c := range conformance.LoadCases(t) {
		if c.Fake.Skip != "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			setup := map[string]bool{}
			for _, s := range strings.Split(c.Fake.Setup, ",") {
				setup[strings.TrimSpace(s)] = true
			}
			var opts []klicktipptest.Option
			if setup["german"] {
				opts = append(opts, klicktipptest.WithLanguage(klicktipptest.German))
			}
			srv := klicktipptest.NewServer(opts...)
			t.Cleanup(srv.Close)
			hdr := http.Header{}
			if setup["session"] || setup["contact"] {
				cl, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: apis.NewHTTPClient(0)})
				if err != nil {
					t.Fatal(err)
				}
				s, err := cl.Login(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if setup["contact"] {
					if _, err := s.Subscribe(t.Context(), klicktipp.SubscribeRequest{Email: "testsubscriber@mydomain.com"}); err != nil {
						t.Fatal(err)
					}
				}
				// The session's cookie, as the fake set it.
				for _, r := range srv.Requests() {
					if r.Path != "/account/login" {
						hdr.Set("Cookie", r.Header.Get("Cookie"))
					}
				}
				if hdr.Get("Cookie") == "" {
					if _, err := s.Tags(t.Context()); err != nil {
						t.Fatal(err)
					}
					reqs := srv.Requests()
					hdr.Set("Cookie", reqs[len(reqs)-1].Header.Get("Cookie"))
				}
			}
			if setup["expired"] {
				hdr.Set("Cookie", fmt.Sprintf("%s=%s", klicktipptest.SessionName, "expired-session-id"))
			}
			conformance.CheckFake(t, c, srv.URL, hdr)
		})
	}
}
