package klicktipp_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-Canary-Value"
	tests := []struct {
		name    string
		cfg     klicktipp.Config
		wantErr string // substring; "" means success
		mode    klicktipp.Mode
	}{
		{"session", klicktipp.Config{Username: "u", Password: secret}, "", klicktipp.ModeSession},
		{"partner", klicktipp.Config{Username: "u", DeveloperKey: "00ff", CustomerKey: secret}, "", klicktipp.ModePartner},
		{"partner preferred", klicktipp.Config{Username: "u", Password: secret, DeveloperKey: "00ff", CustomerKey: secret}, "", klicktipp.ModePartner},
		{"no username", klicktipp.Config{Password: secret}, "Username is required", 0},
		{"no password", klicktipp.Config{Username: "u"}, "Password is required", 0},
		{"developer key only", klicktipp.Config{Username: "u", Password: secret, DeveloperKey: "00ff"}, "CustomerKey is required", 0},
		{"customer key only", klicktipp.Config{Username: "u", CustomerKey: secret}, "DeveloperKey is required", 0},
		{"developer key not hex", klicktipp.Config{Username: "u", DeveloperKey: secret, CustomerKey: "c"}, "DeveloperKey is not hex", 0},
		{"http non-loopback", klicktipp.Config{BaseURL: "http://api.klicktipp.com", Username: "u", Password: secret}, "BaseURL", 0},
		{"http allowed", klicktipp.Config{BaseURL: "http://api.klicktipp.com", AllowInsecureHTTP: true, Username: "u", Password: secret}, "", klicktipp.ModeSession},
		{"http loopback", klicktipp.Config{BaseURL: "http://127.0.0.1:1/", Username: "u", Password: secret}, "", klicktipp.ModeSession},
		{"bad scheme", klicktipp.Config{BaseURL: "ftp://x", Username: "u", Password: secret}, "BaseURL", 0},
		{"user info stripped", klicktipp.Config{BaseURL: "ftp://u:" + secret + "@x", Username: "u", Password: secret}, "BaseURL", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := klicktipp.New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Mode() != tt.mode {
					t.Fatalf("Mode = %v, want %v", c.Mode(), tt.mode)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q leaks a secret", err)
			}
		})
	}
}

// TestErrorsNeverLeakSecrets points the client at a hostile server that
// echoes every header and body back in its error answers, and checks no
// error string carries the password, keys, X-Ci, session id or cookie.
func TestErrorsNeverLeakSecrets(t *testing.T) {
	t.Parallel()
	const (
		password = "canary-password-1f2e"
		devKey   = "cafe0123cafe4567"
		custKey  = "canary-customer-key-9a8b"
		sessid   = "canary-session-id-7c6d"
	)
	xci, err := klicktipp.XCI(devKey, custKey)
	if err != nil {
		t.Fatal(err)
	}
	echo := func(r *http.Request) []string {
		b, _ := io.ReadAll(r.Body)
		var out []string
		for k, v := range r.Header {
			out = append(out, k+": "+strings.Join(v, ","))
		}
		return append(out, string(b))
	}
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		status, msgs := http.StatusNotAcceptable, echo(r)
		switch r.URL.Path {
		case "/account/login":
			if logins.Add(1) == 1 { // the first login succeeds, later ones echo
				_, _ = w.Write([]byte(`{"sessid":"` + sessid + `","session_name":"SSESSx"}`))
				return
			}
			status = http.StatusUnauthorized
		case "/tag":
			// A denial: the client logs in again, which fails with the echo.
			status, msgs = http.StatusForbidden, append([]string{"API access denied."}, msgs...)
		}
		b, _ := json.Marshal(msgs)
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	hc := srv.Client()
	t.Cleanup(hc.CloseIdleConnections)

	var errs []error
	sc, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: "u", Password: password, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sc.Login(t.Context())
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	_, err = s.Subscribe(t.Context(), klicktipp.SubscribeRequest{Email: "a@example.com", Fields: map[string]string{"fieldX": password}})
	errs = append(errs, err)
	_, err = s.Tags(t.Context()) // 403 → relogin → 401 with echo of the password
	errs = append(errs, err)
	_, err = sc.Login(t.Context())
	errs = append(errs, err)

	pc, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: "u", DeveloperKey: devKey, CustomerKey: custKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := pc.Login(t.Context())
	errs = append(errs, ps.Tag(t.Context(), "a@example.com", []int64{1}))
	_, err = ps.Search(t.Context(), "a@example.com")
	errs = append(errs, err)

	for i, err := range errs {
		if err == nil {
			t.Fatalf("call %d succeeded against the hostile server", i)
		}
		var ae *klicktipp.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("call %d: %v is not an *APIError", i, err)
		}
		for _, secret := range []string{password, devKey, custKey, xci, sessid} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("call %d: error %q leaks %q", i, err, secret)
			}
		}
	}
	if !errors.Is(errs[1], apis.ErrUnauthorized) {
		t.Errorf("failed relogin = %v, want ErrUnauthorized", errs[1])
	}
}

// TestErrorsRedactBeforeClipping: a secret echoed just before the 300-byte
// cut must be redacted as a whole, not clipped first so that its head
// survives the redaction.
func TestErrorsRedactBeforeClipping(t *testing.T) {
	t.Parallel()
	const password = "canary-password-straddling-the-cut"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/account/login" {
			_, _ = w.Write([]byte(`{"sessid":"sid-0123456789","session_name":"SSESSx"}`))
			return
		}
		b, _ := json.Marshal([]string{strings.Repeat("x", 290) + password})
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: "u", Password: password, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Tags(t.Context())
	if err == nil {
		t.Fatal("Tags succeeded against a 400")
	}
	if strings.Contains(err.Error(), password[:8]) {
		t.Fatalf("error %q keeps the head of the password", err)
	}
}

// TestPartnerHeadersSent checks the X-Un and X-Ci headers the client puts on
// the wire against DESIGN.md's test vector (developer key 0123456789abcdef,
// customer key customer-key), so passing the keys to XCI in the wrong order,
// or signing the wrong message, fails here and not only in production.
func TestPartnerHeadersSent(t *testing.T) {
	t.Parallel()
	const vector = "cZkWFoPs3rLacJ4OpaooJMMOcb/fLxbZpeeOzJFCGh1jdXN0b21lci1rZXk="
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"17":"customer"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := klicktipp.New(klicktipp.Config{BaseURL: srv.URL, Username: " partner-user ", DeveloperKey: "0123456789abcdef", CustomerKey: "customer-key", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Login(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tags(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case h := <-got:
		if h.Get("X-Ci") != vector || h.Get("X-Un") != "partner-user" {
			t.Fatalf("sent X-Ci %q X-Un %q, want %q and %q", h.Get("X-Ci"), h.Get("X-Un"), vector, "partner-user")
		}
		if h.Get("Cookie") != "" || h.Get("X-Session-Id") != "" {
			t.Fatalf("partner request carries session headers: %v", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the server within 5s")
	}
}
