package apis_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klipy"
)

// Secrets the clients below are configured with; none may reach the
// listener a redirect points at.
const (
	rdPassword = "redirect-canary-password"
	rdDevKey   = "0123456789abcdef"
	rdCustKey  = "redirect-canary-customer-key"
	rdKlipyKey = "klipy_api_redirectcanary0123456789"
	rdClickyID = "ck_live_0123456789abcdef0123456789abcdef0123abcd"
)

// sink is the second listener: it records every request it gets.
type sink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newSink(t *testing.T) *sink {
	s := &sink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, r.Method+" "+r.URL.Path+" "+headerDump(r.Header)+" "+string(b))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"sessid":"x","session_name":"SSESSx","results":[],"object":"success","data":{"id":"p1"}}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func headerDump(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + "=" + strings.Join(vs, ",") + ";")
	}
	return b.String()
}

func (s *sink) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// redirector answers every request with status and Location target+path.
func redirector(status int, target string, tls bool) *httptest.Server {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", target+"/stolen/secret-path-token?q=secret-query")
		w.WriteHeader(status)
	})
	if tls {
		return httptest.NewTLSServer(h)
	}
	return httptest.NewServer(h)
}

// TestNoRedirectCarriesCredentials runs the three real clients against a
// server that redirects (301, 302, 307, 308) to a second listener, on
// another port over http and from https down to http on the same host, and
// asserts that the second listener got no request at all (so none carrying
// a credential), that the call failed, and that the error names the
// Location host but not its path.
func TestNoRedirectCarriesCredentials(t *testing.T) {
	t.Parallel()
	calls := map[string]func(ctx context.Context, base string, hc *http.Client) error{
		"klicktipp session login": func(ctx context.Context, base string, hc *http.Client) error {
			c, err := klicktipp.New(klicktipp.Config{BaseURL: base, Username: "user", Password: rdPassword, HTTPClient: hc})
			if err != nil {
				return err
			}
			s, err := c.Login(ctx)
			if err == nil {
				_ = s.Logout(ctx)
			}
			return err
		},
		"klicktipp partner tags": func(ctx context.Context, base string, hc *http.Client) error {
			c, err := klicktipp.New(klicktipp.Config{BaseURL: base, Username: "user", DeveloperKey: rdDevKey, CustomerKey: rdCustKey, HTTPClient: hc})
			if err != nil {
				return err
			}
			s, err := c.Login(ctx)
			if err != nil {
				return err
			}
			defer s.Logout(ctx)
			_, err = s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: "someone@example.com"})
			return err
		},
		"klipy upsert": func(ctx context.Context, base string, hc *http.Client) error {
			c, err := klipy.New(klipy.Config{BaseURL: base, APIKey: rdKlipyKey, HTTPClient: hc})
			if err != nil {
				return err
			}
			_, err = c.UpsertPerson(ctx, klipy.Person{"email": "someone@example.com"})
			return err
		},
		"clickyid bulk": func(ctx context.Context, base string, hc *http.Client) error {
			c, err := clickyid.New(clickyid.Config{BaseURL: base, APIKey: rdClickyID, HTTPClient: hc})
			if err != nil {
				return err
			}
			_, err = c.ValidateBulk(ctx, clickyid.BulkRequest{Emails: []string{"someone@example.com"}, TargetGroupIDs: []string{"tg"}})
			return err
		},
	}
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, tls := range []bool{false, true} {
			sk := newSink(t)
			target := sk.srv.URL // http://127.0.0.1:port: same host, plain http
			rd := redirector(status, target, tls)
			t.Cleanup(rd.Close)
			hc := apis.NewHTTPClient(5 * time.Second)
			if tls {
				// Trust the test certificate, and nothing else changed:
				// a caller's client without CheckRedirect must be safe too.
				hc = rd.Client()
				hc.Timeout = 5 * time.Second
			}
			for name, call := range calls {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := call(ctx, rd.URL, hc)
				cancel()
				label := name + " " + http.StatusText(status)
				if tls {
					label += " https->http"
				}
				if err == nil {
					t.Errorf("%s: succeeded, want an error", label)
					continue
				}
				var ae *apis.Error
				if !errors.As(err, &ae) || ae.Status != status {
					t.Errorf("%s: err = %v, want an *apis.Error with status %d", label, err, status)
				}
				host := strings.TrimPrefix(target, "http://")
				if msg := err.Error(); !strings.Contains(msg, host) || strings.Contains(msg, "secret-path-token") || strings.Contains(msg, "secret-query") {
					t.Errorf("%s: error %q should name %s and not the Location's path or query", label, msg, host)
				}
			}
			if got := sk.requests(); len(got) != 0 {
				t.Errorf("status %d tls %v: the redirect target received %d requests: %q", status, tls, len(got), got)
			}
		}
	}
}

func TestRedirectErrorRedactsLocation(t *testing.T) {
	t.Parallel()
	rd := redirector(http.StatusFound, "https://user:pw@other.example:8443", false)
	t.Cleanup(rd.Close)
	tr := &apis.Transport{API: "x", HTTP: rd.Client()}
	req, err := tr.NewRequest(context.Background(), "GET /a", "GET", rd.URL+"/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tr.Do(context.Background(), "GET /a", req)
	if err == nil || !errors.Is(err, apis.ErrTransient) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "other.example:8443") || strings.Contains(msg, "pw") || strings.Contains(msg, "secret") {
		t.Errorf("error %q should name other.example:8443 and nothing else of the Location", msg)
	}
}
