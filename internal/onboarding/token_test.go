package onboarding_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/onboarding"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "0123456789abcdef0123456789abcdef-test"

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func signer(t *testing.T, s string) *onboarding.Signer {
	t.Helper()
	sg, err := onboarding.NewSigner(s)
	if err != nil {
		t.Fatal(err)
	}
	return sg
}

func TestToken(t *testing.T) {
	t.Parallel()
	s := signer(t, secret)
	inv, err := onboarding.NewInvite("acme", "acme@example.com", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tok := s.Sign(inv)
	if url.PathEscape(tok) != tok || strings.ContainsAny(tok, "?&#/") {
		t.Errorf("token %q is not path-safe", tok)
	}
	got, err := s.Verify(tok, t0)
	if err != nil || got != inv {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, inv)
	}
	if _, err := s.Verify(tok, t0.Add(time.Hour)); !errors.Is(err, onboarding.ErrExpired) {
		t.Errorf("at expiry: %v", err)
	}
	other, _ := onboarding.NewInvite("acme", "acme@example.com", t0.Add(time.Hour))
	if other.ID == inv.ID {
		t.Error("two invites share an id")
	}
	// Any change is tampering: another secret, a flipped character in the
	// payload or signature, a payload from another token, junk.
	p, sig, _ := strings.Cut(tok, ".")
	p2, _, _ := strings.Cut(s.Sign(other), ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"other secret": signer(t, secret+"x").Sign(inv),
		"payload":      flip(p, 3) + "." + sig,
		"signature":    p + "." + flip(sig, 5),
		"swapped":      p2 + "." + sig,
		"no dot":       p + sig,
		"empty":        "",
		"huge":         strings.Repeat("a", 5000) + "." + sig,
	} {
		if _, err := s.Verify(bad, t0); !errors.Is(err, onboarding.ErrTampered) {
			t.Errorf("%s: %v, want ErrTampered", name, err)
		}
	}
}

func TestNewSignerAndInvite(t *testing.T) {
	t.Parallel()
	if _, err := onboarding.NewSigner("short-secret"); err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Errorf("short secret: %v", err)
	}
	for _, c := range []struct{ account, user string }{{"a.b", "u"}, {"", "u"}, {strings.Repeat("a", 65), "u"}, {"ok", ""}, {"ok", "a\nb"}} {
		if _, err := onboarding.NewInvite(c.account, c.user, t0); err == nil {
			t.Errorf("NewInvite(%q, %q) accepted", c.account, c.user)
		}
	}
}

func TestLink(t *testing.T) {
	t.Parallel()
	got := onboarding.Link("", "4711", "https://crm.example.com/", "tok.sig")
	want := "https://app.klicktipp.com/grantapiaccess/4711?url=https%3A%2F%2Fcrm.example.com%2Fklicktipp%2Fgrant%2Ftok.sig"
	if got != want {
		t.Errorf("Link = %s\nwant   %s", got, want)
	}
	u, _ := url.Parse(got)
	if r := u.Query().Get("url"); r != "https://crm.example.com/klicktipp/grant/tok.sig" {
		t.Errorf("redirect %q", r)
	}
}

func TestAddressLimiter(t *testing.T) {
	t.Parallel()
	l := onboarding.NewAddressLimiter(6*time.Second, 3, 2)
	for i := range 3 {
		if !l.Allow("a", t0) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if l.Allow("a", t0) {
		t.Error("4th request at once allowed")
	}
	if !l.Allow("b", t0) {
		t.Error("another address limited by the first")
	}
	if !l.Allow("a", t0.Add(6*time.Second)) {
		t.Error("no refill after 6s")
	}
	// Table full (2 addresses, both recently active): a new one is refused,
	// until the others have been idle long enough to refill.
	if l.Allow("c", t0.Add(7*time.Second)) {
		t.Error("new address admitted to a full table of active ones")
	}
	if !l.Allow("c", t0.Add(time.Minute)) {
		t.Error("idle addresses not forgotten")
	}
}
