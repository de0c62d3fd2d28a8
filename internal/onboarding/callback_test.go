package onboarding_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

type cbBundle struct {
	t     *testing.T
	kt    *klicktipptest.Server
	vault *vault.Vault
	sign  *onboarding.Signer
	srv   *httptest.Server
	log   *bytes.Buffer
	ctx   context.Context

	mu  sync.Mutex
	now time.Time
}

func setupCallback(t *testing.T, lim *onboarding.AddressLimiter) *cbBundle {
	t.Helper()
	b := &cbBundle{t: t, now: t0, log: &bytes.Buffer{}}
	b.kt = klicktipptest.NewServer()
	t.Cleanup(b.kt.Close)
	ns := brokertest.Start(t)
	_, js := ns.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b.ctx = ctx
	kv, err := vault.Ensure(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	mk, _ := vault.ParseMasterKey(hex.EncodeToString(raw))
	b.vault = vault.New(kv, mk)
	b.sign = signer(t, secret)
	var logMu sync.Mutex
	cb, err := onboarding.NewCallback(onboarding.CallbackConfig{
		Signer: b.sign, Store: b.vault,
		Verify:   onboarding.KlickTippVerifier(b.kt.URL, klicktipptest.DeveloperKey, nil, false),
		Reserved: func(a string) bool { return a == "default" },
		Limiter:  lim,
		Now: func() time.Time {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.now
		},
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{mu: &logMu, w: b.log}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(cb)
	t.Cleanup(b.srv.Close)
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (b *cbBundle) token(account, user string, ttl time.Duration) string {
	b.t.Helper()
	inv, err := onboarding.NewInvite(account, user, t0.Add(ttl))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.sign.Sign(inv)
}

// get requests the callback and returns status and page.
func (b *cbBundle) get(method, path string, body io.Reader) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, method, b.srv.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(page)
}

func (b *cbBundle) granted() []vault.Entry {
	b.t.Helper()
	l, err := b.vault.List(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return l
}

func freshKey() string {
	r := make([]byte, 20)
	_, _ = rand.Read(r)
	return "ck_" + hex.EncodeToString(r)
}

func TestCallbackGrants(t *testing.T) {
	t.Parallel()
	b := setupCallback(t, nil)
	key := freshKey()
	b.kt.AddCustomerKey("acme-user", key)
	tok := b.token("acme", "acme-user", time.Hour)
	status, h, page := b.get("GET", "/klicktipp/grant/"+tok+"?customerkey="+key, nil)
	if status != 200 || !strings.Contains(page, "granted") || !strings.Contains(page, "acme") {
		t.Fatalf("grant: %d %s", status, page)
	}
	if h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", h)
	}
	a, err := b.vault.Get(b.ctx, "acme")
	if err != nil || a.CustomerKey != key || a.Username != "acme-user" {
		t.Fatalf("stored %+v, %v", a, err)
	}
	// The verification was one partner-mode read with the right X-Un.
	reqs := b.kt.Requests()
	if len(reqs) != 1 || reqs[0].Method != "GET" || reqs[0].Path != "/field" || reqs[0].Header.Get("X-Un") != "acme-user" || reqs[0].Status != 200 {
		t.Errorf("KlickTipp saw %+v", reqs)
	}
	// The same link again: 409, nothing changes, KlickTipp not asked.
	key2 := freshKey()
	b.kt.AddCustomerKey("acme-user", key2)
	status, _, page = b.get("GET", "/klicktipp/grant/"+tok+"?customerkey="+key2, nil)
	if status != http.StatusConflict || !strings.Contains(page, "already used") {
		t.Errorf("reuse: %d %s", status, page)
	}
	if a, _ := b.vault.Get(b.ctx, "acme"); a.CustomerKey != key {
		t.Error("reuse replaced the key")
	}
	if n := len(b.kt.Requests()); n != 1 {
		t.Errorf("reuse asked KlickTipp (%d requests)", n)
	}
	// A new invite for the same account replaces the key (rotation).
	status, _, _ = b.get("GET", "/klicktipp/grant/"+b.token("acme", "acme-user", time.Hour)+"?customerkey="+key2, nil)
	if a, _ := b.vault.Get(b.ctx, "acme"); status != 200 || a.CustomerKey != key2 {
		t.Errorf("re-grant: %d, key replaced: %v", status, a.CustomerKey == key2)
	}
	for _, k := range []string{key, key2} {
		if strings.Contains(b.log.String(), k) {
			t.Errorf("log holds the key:\n%s", b.log)
		}
	}
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	b := setupCallback(t, onboarding.NewAddressLimiter(time.Hour, 1000, 0))
	good := freshKey()
	b.kt.AddCustomerKey("u", good)
	tok := b.token("acme", "u", time.Hour)
	p, sig, _ := strings.Cut(tok, ".")
	rejected := freshKey() // well-formed, unknown to KlickTipp
	cases := []struct {
		name, method, path string
		body               io.Reader
		status             int
		text               string
	}{
		{"expired", "GET", "/klicktipp/grant/" + b.token("acme", "u", -time.Second) + "?customerkey=" + good, nil, 410, "expired"},
		{"tampered", "GET", "/klicktipp/grant/" + p + "x." + sig + "?customerkey=" + good, nil, 403, "not valid"},
		{"other secret", "GET", "/klicktipp/grant/" + signer(t, secret+"!").Sign(onboarding.Invite{ID: "x", Account: "acme", Username: "u", Expires: t0.Add(time.Hour)}) + "?customerkey=" + good, nil, 403, "not valid"},
		{"rejected", "GET", "/klicktipp/grant/" + tok + "?customerkey=" + rejected, nil, 422, "did not accept"},
		{"no key", "GET", "/klicktipp/grant/" + tok, nil, 400, "did not send"},
		{"short key", "GET", "/klicktipp/grant/" + tok + "?customerkey=abc", nil, 400, "does not look"},
		{"odd key", "GET", "/klicktipp/grant/" + tok + "?customerkey=" + strings.Repeat("a", 20) + "%3Cb%3E", nil, 400, "does not look"},
		{"two keys", "GET", "/klicktipp/grant/" + tok + "?customerkey=" + good + "&customerkey=" + good, nil, 400, "does not look"},
		{"reserved", "GET", "/klicktipp/grant/" + b.token("default", "u", time.Hour) + "?customerkey=" + good, nil, 409, "configured"},
		{"other path", "GET", "/metrics", nil, 404, "nothing here"},
		{"deeper path", "GET", "/klicktipp/grant/" + tok + "/x?customerkey=" + good, nil, 404, "nothing here"},
		{"post", "POST", "/klicktipp/grant/" + tok + "?customerkey=" + good, nil, 405, "Only GET"},
		{"body", "GET", "/klicktipp/grant/" + tok + "?customerkey=" + good, strings.NewReader("x=1"), 413, "no request body"},
	}
	for _, c := range cases {
		status, _, page := b.get(c.method, c.path, c.body)
		if status != c.status || !strings.Contains(page, c.text) {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, page, c.status, c.text)
		}
		if strings.Contains(page, good) || strings.Contains(page, rejected) {
			t.Errorf("%s: page echoes the key", c.name)
		}
	}
	if g := b.granted(); len(g) != 0 {
		t.Fatalf("refusals stored %+v", g)
	}
	// The rejected attempt did not use the link up.
	if status, _, page := b.get("GET", "/klicktipp/grant/"+tok+"?customerkey="+good, nil); status != 200 {
		t.Errorf("link after a rejected key: %d %s", status, page)
	}
	if strings.Contains(b.log.String(), rejected) || strings.Contains(b.log.String(), good) {
		t.Errorf("log holds a key:\n%s", b.log)
	}
}

func TestCallbackKlickTippDown(t *testing.T) {
	t.Parallel()
	b := setupCallback(t, nil)
	key := freshKey()
	b.kt.AddCustomerKey("u", key)
	tok := b.token("acme", "u", time.Hour)
	b.kt.Close()
	if status, _, page := b.get("GET", "/klicktipp/grant/"+tok+"?customerkey="+key, nil); status != 503 || !strings.Contains(page, "still works") {
		t.Errorf("KlickTipp down: %d %s", status, page)
	}
	if len(b.granted()) != 0 {
		t.Error("stored without verification")
	}
}

func TestCallbackFlood(t *testing.T) {
	t.Parallel()
	b := setupCallback(t, onboarding.NewAddressLimiter(6*time.Second, 10, 0))
	key := freshKey()
	b.kt.AddCustomerKey("u", key)
	counts := map[int]int{}
	for i := range 40 {
		status, h, _ := b.get("GET", "/klicktipp/grant/"+b.token("acme", "u", time.Hour)+"x?customerkey="+key, nil)
		counts[status]++
		if status == 429 && h.Get("Retry-After") == "" {
			t.Errorf("request %d: 429 without Retry-After", i)
		}
	}
	if counts[403] != 10 || counts[429] != 30 {
		t.Errorf("flood answers %v, want 10×403 then 30×429", counts)
	}
	// Valid links are limited too while the address is over its budget...
	if status, _, _ := b.get("GET", "/klicktipp/grant/"+b.token("acme", "u", time.Hour)+"?customerkey="+key, nil); status != 429 {
		t.Errorf("valid link during the flood: %d", status)
	}
	if len(b.granted()) != 0 || len(b.kt.Requests()) != 0 {
		t.Error("the flood stored something or reached KlickTipp")
	}
	// ...and served once it has refilled.
	b.mu.Lock()
	b.now = b.now.Add(6 * time.Second)
	b.mu.Unlock()
	if status, _, page := b.get("GET", "/klicktipp/grant/"+b.token("acme", "u", time.Hour)+"?customerkey="+key, nil); status != 200 {
		t.Errorf("after refill: %d %s", status, page)
	}
}

func TestServerBounds(t *testing.T) {
	t.Parallel()
	s := onboarding.NewServer(http.NotFoundHandler())
	if s.MaxHeaderBytes != 8<<10 || s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 {
		t.Errorf("server bounds %+v", s)
	}
	ts := httptest.NewUnstartedServer(s.Handler)
	ts.Config.MaxHeaderBytes = s.MaxHeaderBytes
	ts.Start()
	t.Cleanup(ts.Close)
	req, _ := http.NewRequest("GET", ts.URL+"/klicktipp/grant/x", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("16 KiB header: %d, want 431", resp.StatusCode)
	}
}
