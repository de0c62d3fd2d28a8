package jobs_test

import (
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"unicode"

	"crmsync/internal/jobs"
)

// checkEmailWithNetMail is CheckEmail as it was, with net/mail: the fast
// CheckEmail must give the same answer, error text included.
func checkEmailWithNetMail(email string) error {
	trunc := func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		for n > 0 && s[n]&0xc0 == 0x80 {
			n--
		}
		return s[:n] + "…"
	}
	isControl := func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }
	switch {
	case email == "":
		return fmt.Errorf("email is empty")
	case len(email) > 254:
		return fmt.Errorf("email is %d characters, more than 254", len(email))
	case strings.ContainsFunc(email, func(r rune) bool { return isControl(r) || unicode.IsSpace(r) }):
		return fmt.Errorf("email %q contains spaces or control characters", trunc(email, 80))
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return fmt.Errorf("email %q is not a valid address", trunc(email, 80))
	}
	local, domain, _ := strings.Cut(email, "@")
	if len(local) > 64 {
		return fmt.Errorf("email %q has a local part longer than 64 characters", trunc(email, 80))
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return fmt.Errorf("email %q has no valid domain", trunc(email, 80))
	}
	return nil
}

// emailSeeds are TestCheckEmail's addresses and the corners of RFC 5322
// that net/mail reads.
var emailSeeds = []string{
	"ann@example.com", "a.b+c@sub.uni.example", "x@y.co", "", "bad@", "@x.example", "a b@x.example", "Ann <a@x.example>",
	"a@localhost", "a\x00@x.example", strings.Repeat("a", 1000) + "@x.example", strings.Repeat("a", 65) + "@x.example", "a@x.example.",
	strings.Repeat("a", 64) + "@x.example", "a@" + strings.Repeat("b", 250) + ".de",
	`"a"@x.example`, `"a b"@x.example`, `""@x.example`, `"\"a"@x.example`, "a@[1.2.3.4]", "a@[::1]", "a@[IPv6:::1]", "a@[1.2.3.4](c)",
	"a@[1.2.3.4]]", "a@[x]", "a@[]", "a@[", strings.Repeat("a", 65) + "@[1.2.3.4]",
	".a@x.example", "a.@x.example", "a..b@x.example", "a@.x.example", "a@x..example", "a@x.example(comment)", "a@x.example()",
	"(c)a@x.example", "a(c)@x.example", "<a@x.example>", "g:a@x.example;", "a@b@x.example", "a@x,example", "a@x;example",
	"!#$%&'*+-/=?^_`{|}~@x.example", "a\\b@x.example", "ü@bücher.example", "a@bücher.example", "\xff@x.example", "a@x.\xffexample",
	"a@x.example\xff", "\ufffd@x.example", "a\u00a0@x.example", "a\u200b@x.example", "a\u0085@x.example", "a\x7f@x.example",
	"a@x.example\r", "a\t@x.example", "=?utf-8?q?a?=@x.example", "a@x.e", "a@-x.example", "a@x.example-", "@", "a@", "@@",
	"a.b.c.d@e.f.g.h", "A@X.EXAMPLE", "a@1.2.3.4", strings.Repeat("a", 70) + "@" + strings.Repeat("ü", 40) + ".x..y",
}

func TestCheckEmailAsNetMail(t *testing.T) {
	t.Parallel()
	for _, e := range emailSeeds {
		if got, want := fmt.Sprint(jobs.CheckEmail(e)), fmt.Sprint(checkEmailWithNetMail(e)); got != want {
			t.Errorf("CheckEmail(%q) = %s, net/mail's = %s", e, got, want)
		}
	}
}

// FuzzCheckEmailAsNetMail: the fast CheckEmail accepts and refuses what
// the one with net/mail.ParseAddress did, with the same error.
func FuzzCheckEmailAsNetMail(f *testing.F) {
	for _, e := range emailSeeds {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, e string) {
		if got, want := fmt.Sprint(jobs.CheckEmail(e)), fmt.Sprint(checkEmailWithNetMail(e)); got != want {
			t.Fatalf("CheckEmail(%q) = %s, net/mail's = %s", e, got, want)
		}
	})
}

func BenchmarkCheckEmail(b *testing.B) {
	for _, tc := range []struct {
		name string
		fn   func(string) error
	}{{"fast", jobs.CheckEmail}, {"net-mail", checkEmailWithNetMail}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tc.fn("user123456@example.com") != nil {
					b.Fatal("refused")
				}
			}
		})
	}
}
