package klicktipptest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis/klicktipp/klicktipptest"
)

// TestAddCustomerKey: keys added at run time are valid with the server's
// developer key, for their username only (or any, for ""), until removed.
func TestAddCustomerKey(t *testing.T) {
	t.Parallel()
	w := newWire(t, klicktipptest.WithPartnerKeys("0123456789abcdef", "seeded-key"))
	get := func(un, ci string) int {
		status, _, _ := w.do("GET", "/field", nil, map[string]string{"X-Un": un, "X-Ci": ci})
		return status
	}
	if s := get("alice", vectorXCI); s != 403 {
		t.Fatalf("before AddCustomerKey: %d, want 403", s)
	}
	w.srv.AddCustomerKey("Alice", "customer-key")
	if s := get("alice", vectorXCI); s != 200 {
		t.Errorf("added key for its user: %d, want 200", s)
	}
	if s := get("bob", vectorXCI); s != 403 {
		t.Errorf("added key for another user: %d, want 403", s)
	}
	w.srv.RemoveCustomerKey("customer-key")
	if s := get("alice", vectorXCI); s != 403 {
		t.Errorf("removed key: %d, want 403", s)
	}
	w.srv.AddCustomerKey("", "customer-key")
	if s := get("anyone", vectorXCI); s != 200 {
		t.Errorf("key for any user: %d, want 200", s)
	}
}

// TestGrantPage: the fake dialog redirects to the url with a fresh key
// appended the way KlickTipp does, and that key then works.
func TestGrantPage(t *testing.T) {
	t.Parallel()
	w := newWire(t)
	page := httptest.NewServer(http.StripPrefix("/sandbox/klicktipp", w.srv.GrantPage()))
	t.Cleanup(page.Close)
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(hc.CloseIdleConnections)
	redirect := "https://crm.example.com/klicktipp/grant/tok.sig"
	keys := map[string]bool{}
	for range 2 {
		resp, err := hc.Get(page.URL + "/sandbox/klicktipp/grantapiaccess/1234?url=" + url.QueryEscape(redirect))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirect+"?customerkey=") {
			t.Fatalf("grant page: %d Location %q", resp.StatusCode, loc)
		}
		u, _ := url.Parse(loc)
		keys[u.Query().Get("customerkey")] = true
	}
	if len(keys) != 2 || w.srv.CustomerKeysIssued() != 2 {
		t.Fatalf("keys not fresh: %v", keys)
	}
	for key := range keys {
		ci := xciOf(klicktipptest.DeveloperKey, key)
		if status, _, body := w.do("GET", "/field", nil, map[string]string{"X-Un": "whoever", "X-Ci": ci}); status != 200 {
			t.Errorf("issued key refused: %d %s", status, body)
		}
	}
	for _, bad := range []string{"/sandbox/klicktipp/grantapiaccess/1234", "/sandbox/klicktipp/grantapiaccess/1234?url=javascript:alert(1)", "/sandbox/klicktipp/grantapiaccess/?url=" + url.QueryEscape(redirect)} {
		resp, err := hc.Get(page.URL + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

// xciOf is X-Ci as DESIGN.md defines it.
func xciOf(developerKey, customerKey string) string {
	key, _ := hex.DecodeString(developerKey)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(customerKey))
	return base64.StdEncoding.EncodeToString(append(mac.Sum(nil), customerKey...))
}
