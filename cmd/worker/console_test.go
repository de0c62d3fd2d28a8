package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/vault"
)

func TestConsoleIsOffWithoutAPassword(t *testing.T) {
	b := start(t, baseEnv(t))
	code, body := get(t, "http://"+b.http+"/console/")
	if code != http.StatusNotFound || !strings.Contains(body, "CONSOLE_PASSWORD") {
		t.Errorf("/console/ without CONSOLE_PASSWORD: %d %q, want 404 naming CONSOLE_PASSWORD", code, body)
	}
}

func TestSandboxConsoleIsOpenOnlyOnLoopback(t *testing.T) {
	if !loopback("127.0.0.1:0") || !loopback("[::1]:8080") || !loopback("localhost:8080") || loopback(":8080") || loopback("0.0.0.0:8080") || loopback("10.0.0.1:80") {
		t.Fatal("loopback() misjudges an address")
	}
	b := startMode(t, baseEnv(t), true)
	code, body := get(t, "http://"+b.http+"/console/")
	if code != http.StatusOK || !strings.Contains(body, "open (sandbox)") {
		t.Errorf("sandbox console on loopback: %d, want 200 and the open notice", code)
	}
}

// TestConsoleRendersNoSecret runs a worker with real-looking credentials
// in the environment and reads every page: none shows a key, a password
// or the console's own password.
func TestConsoleRendersNoSecret(t *testing.T) {
	secrets := map[string]string{
		"KLICKTIPP_PASSWORD": "kt-password-canary-1",
		"KLIPY_API_KEY":      "klipy_api_canary0123456789abcdef",
		"CLICKYID_API_KEY":   "ck_live_" + strings.Repeat("ab", 20),
		"CONSOLE_PASSWORD":   "console-password-canary",
	}
	env := append(baseEnv(t), "KLICKTIPP_USERNAME=shop-owner")
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	b := start(t, env)
	c := loginClient(t, "http://"+b.http, secrets["CONSOLE_PASSWORD"])
	for _, p := range []string{"/console/", "/console/accounts", "/console/backfills", "/console/dlq", "/console/jobs/x"} {
		resp, err := c.Get("http://" + b.http + p)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
		for k, v := range secrets {
			if strings.Contains(body, v) {
				t.Errorf("%s shows %s", p, k)
			}
		}
		if p == "/console/accounts" && (!strings.Contains(body, "shop-owner") || !strings.Contains(body, "session (username &#43; password)")) {
			t.Errorf("accounts page lacks the KlickTipp account:\n%s", body)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginClient logs in to the console at base and returns a client with the
// session cookie.
func loginClient(t *testing.T, base, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(readAll(t, resp))
	if m == nil {
		t.Fatal("no CSRF token on the login page")
	}
	resp, err = c.PostForm(base+"/console/login", url.Values{"csrf": {m[1]}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "Overview") {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return c
}

// TestReadyMetric: the heartbeat sets crmsync_ready, which the "no replica
// ready" alert reads.
func TestReadyMetric(t *testing.T) {
	b := start(t, baseEnv(t))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, "http://"+b.http+"/metrics")
		if strings.Contains(body, "\ncrmsync_ready 1\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("crmsync_ready is not 1 within 10s of the start")
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
}

// TestConsoleListsAndRevokesOnboardedAccounts: an account granted through
// onboarding shows on the accounts page without its key, and the console
// revokes it (a POST with the CSRF token, after a confirmation page).
func TestConsoleListsAndRevokesOnboardedAccounts(t *testing.T) {
	const customerKey = "cust0mer-key-canary-0123456789"
	b := start(t, append(baseEnv(t), "CONSOLE_PASSWORD=a long enough password"))
	js, err := jetstream.New(b.m.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := vault.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	key, err := vault.ParseMasterKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.New(kv, key).Grant(ctx, "acme", "acme-owner", customerKey); err != nil {
		t.Fatal(err)
	}
	base := "http://" + b.http
	c := loginClient(t, base, "a long enough password")
	resp, err := c.Get(base + "/console/accounts")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if !strings.Contains(page, "acme-owner") || !strings.Contains(page, "granted") || !strings.Contains(page, "/console/accounts/confirm?name=acme") {
		t.Fatalf("accounts page lacks the onboarded account or its revoke:\n%s", page)
	}
	if strings.Contains(page, customerKey) || strings.Contains(page, customerKey[len(customerKey)-4:]) {
		t.Error("accounts page shows the customer key or its hint")
	}
	resp, err = c.Get(base + "/console/accounts/confirm?name=acme")
	if err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(readAll(t, resp))
	if m == nil {
		t.Fatal("no form on the confirmation page")
	}
	resp, err = c.PostForm(base+"/console/accounts/revoke", url.Values{"name": {"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoke without the CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/console/accounts/revoke", url.Values{"name": {"acme"}, "csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || !strings.Contains(body, "revoked") {
		t.Fatalf("revoke: %d\n%s", resp.StatusCode, body)
	}
	if left, err := vault.New(kv, nil).List(ctx); err != nil || len(left) != 0 {
		t.Errorf("after the revoke: %v %v, want no account", left, err)
	}
}
