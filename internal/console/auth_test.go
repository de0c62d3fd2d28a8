package console_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"crmsync/internal/console"
	"crmsync/internal/jobs"
)

func TestShortPasswordRefused(t *testing.T) {
	if _, err := console.New(console.Config{Password: "short"}); !errors.Is(err, console.ErrShortPassword) {
		t.Fatalf("New with a short password: %v, want ErrShortPassword", err)
	}
}

func TestPagesNeedLogin(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	c := b.client()
	for _, p := range []string{"/console/", "/console/backfills", "/console/dlq", "/console/dlq/1", "/console/jobs/x", "/console/accounts", "/console/backfills/x/failed.csv"} {
		resp, _ := b.do(c, "GET", p, nil, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
			t.Errorf("GET %s without a session: %d %q, want a redirect to the login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp, _ := b.do(c, "GET", "/console/", nil, map[string]string{"X-Console-Live": "1"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live refresh without a session: %d, want 401", resp.StatusCode)
	}
	resp, _ = b.do(c, "POST", "/console/dlq/purge", url.Values{}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d, want 401", resp.StatusCode)
	}
	// Static assets are public (the login page needs them).
	if resp, _ := b.do(c, "GET", "/console/static/console.css", nil, nil); resp.StatusCode != 200 {
		t.Errorf("console.css: %d", resp.StatusCode)
	}
}

func TestLoginSetsAStrictCookie(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	c := b.client()
	_, page := b.do(c, "GET", "/console/login", nil, nil)
	token := csrfOf(t, page)

	resp, _ := b.do(c, "POST", "/console/login", url.Values{"password": {password}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without its CSRF token: %d, want 403", resp.StatusCode)
	}
	resp, body := b.do(c, "POST", "/console/login", url.Values{"csrf": {token}, "password": {"wrong password!"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong password") {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	token = csrfOf(t, body)
	resp, _ = b.do(c, "POST", "/console/login", url.Values{"csrf": {token}, "password": {password}, "next": {"//evil.example/"}},
		map[string]string{"X-Forwarded-Proto": "https"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("login: %d to %q, want 303 to /console/ (an off-site next is dropped)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "crmsync_console" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || !session.Secure || session.Path != "/console/" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Secure behind TLS, Path=/console/", session)
	}
	if strings.Contains(b.audit.String(), password) {
		t.Error("the audit log holds the password")
	}
	if !strings.Contains(b.audit.String(), "action=login outcome=\"wrong password\"") {
		t.Errorf("the failed login is not audit-logged: %s", b.audit.String())
	}
}

func TestSessionIsGoodOnEveryReplicaWithThePassword(t *testing.T) {
	a := setup(t, console.Config{Password: password})
	c := a.client()
	a.login(c)
	u, _ := url.Parse(a.srv.URL + "/console/")
	cookies := c.Jar.Cookies(u)

	same := setup(t, console.Config{Password: password})
	other := setup(t, console.Config{Password: "another long password"})
	for _, tc := range []struct {
		b    *bundle
		want int
	}{{same, http.StatusOK}, {other, http.StatusSeeOther}} {
		c2 := tc.b.client()
		u2, _ := url.Parse(tc.b.srv.URL + "/console/")
		c2.Jar.SetCookies(u2, cookies)
		if resp, _ := tc.b.do(c2, "GET", "/console/", nil, nil); resp.StatusCode != tc.want {
			t.Errorf("session on a replica: %d, want %d", resp.StatusCode, tc.want)
		}
	}
	// A tampered expiry breaks the signature.
	ck := *cookies[0]
	ck.Value = "9" + ck.Value
	c3 := a.client()
	c3.Jar.SetCookies(u, []*http.Cookie{&ck})
	if resp, _ := a.do(c3, "GET", "/console/", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("tampered session: %d, want a redirect to the login", resp.StatusCode)
	}
}

func TestActionsNeedTheCSRFToken(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	b.deadLetter(jobs.KindContactUpsert, "j1", "default", "boom")
	c := b.client()
	token := b.login(c)
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}} {
		resp, body := b.do(c, "POST", "/console/dlq/purge", form, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("purge with %v: %d, want 403 naming the CSRF token", form, resp.StatusCode)
		}
	}
	// A cross-site POST is refused even with a token.
	resp, _ := b.do(c, "POST", "/console/dlq/purge", url.Values{"csrf": {token}}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site purge: %d, want 403", resp.StatusCode)
	}
	if n := b.count(jobs.DLQStream); n != 1 {
		t.Fatalf("dead letters after refused purges: %d, want 1", n)
	}
	resp, body := b.do(c, "POST", "/console/dlq/purge", url.Values{"csrf": {token}}, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Purged 1 dead letters") {
		t.Fatalf("purge: %d %s", resp.StatusCode, body)
	}
	if n := b.count(jobs.DLQStream); n != 0 {
		t.Errorf("dead letters after the purge: %d", n)
	}
	if !strings.Contains(b.audit.String(), `action="dlq purge" outcome=ok`) || !strings.Contains(b.audit.String(), "refused: missing or bad CSRF token") {
		t.Errorf("audit log lacks the purge or the refusals:\n%s", b.audit.String())
	}
}

func TestReadOnlyRefusesActions(t *testing.T) {
	b := setup(t, console.Config{Password: password, ReadOnly: true})
	b.deadLetter(jobs.KindContactUpsert, "j1", "default", "boom")
	c := b.client()
	token := b.login(c)
	if _, page := b.do(c, "GET", "/console/dlq/1", nil, nil); strings.Contains(page, "Replay…") {
		t.Error("a read-only console offers Replay")
	}
	if resp, _ := b.do(c, "GET", "/console/dlq/confirm?action=purge", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("confirm in read-only: %d, want 403", resp.StatusCode)
	}
	for _, p := range []string{"/console/dlq/purge", "/console/dlq/replay"} {
		if resp, _ := b.do(c, "POST", p, url.Values{"csrf": {token}, "seq": {"1"}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s in read-only: %d, want 403", p, resp.StatusCode)
		}
	}
	if n := b.count(jobs.DLQStream); n != 1 {
		t.Errorf("dead letters: %d, want 1", n)
	}
	// Logging out is not a change to the fleet: allowed.
	if resp, _ := b.do(c, "POST", "/console/logout", url.Values{"csrf": {token}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout in read-only: %d", resp.StatusCode)
	}
}

func TestSecurityHeadersAndNoInlineScript(t *testing.T) {
	b := setup(t, console.Config{})
	b.deadLetter(jobs.KindContactUpsert, "j1", "default", "<script>alert(1)</script>")
	c := b.client()
	for _, p := range []string{"/console/", "/console/backfills", "/console/dlq", "/console/dlq/1", "/console/jobs/j1", "/console/jobs", "/console/accounts", "/console/nope", "/console/dlq/confirm?action=replay&set=1"} {
		resp, body := b.do(c, "GET", p, nil, nil)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", p, h)
		}
		if strings.Contains(body, "<script>") || regexp.MustCompile(`\son[a-z]+=`).MatchString(body) || strings.Contains(body, `style="`) {
			t.Errorf("%s: inline script, handler or style in the page", p)
		}
	}
}
