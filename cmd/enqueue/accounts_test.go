package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

const (
	testMasterKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testNewKey    = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	testSecret    = "onboarding-secret-0123456789abcdef"
)

// runEnv runs enqueue with e's server and extra variables.
func (e *env) runEnv(t *testing.T, extra []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Environ: append([]string{"NATS_URL=" + e.srv.URL()}, extra...), ProgressEvery: time.Hour, Now: e.now}
	code := m.Run(context.Background(), args)
	t.Logf("enqueue %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

var inviteEnv = []string{"KLICKTIPP_PARTNER_ACCOUNT_ID=4711", "ONBOARDING_PUBLIC_URL=https://crm.example.com", "ONBOARDING_SECRET=" + testSecret}

func TestAccountsInvite(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e.now = func() time.Time { return now }
	code, out, _ := e.runEnv(t, inviteEnv, "accounts", "invite", "-account", "acme", "-username", "acme@example.com", "-expires", "24h")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	link := strings.TrimSpace(out)
	const prefix = "https://app.klicktipp.com/grantapiaccess/4711?url="
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("link %q", link)
	}
	u, _ := url.Parse(link)
	redirect := u.Query().Get("url")
	tok, ok := strings.CutPrefix(redirect, "https://crm.example.com/klicktipp/grant/")
	if !ok || strings.Contains(tok, "?") {
		t.Fatalf("redirect %q", redirect)
	}
	s, _ := onboarding.NewSigner(testSecret)
	inv, err := s.Verify(tok, now)
	if err != nil || inv.Account != "acme" || inv.Username != "acme@example.com" || !inv.Expires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("token says %+v, %v", inv, err)
	}

	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-account", "acme", "-username", "u"}, "KLICKTIPP_PARTNER_ACCOUNT_ID"},
		{inviteEnv[:2], []string{"-account", "acme", "-username", "u"}, "ONBOARDING_SECRET"},
		{inviteEnv, []string{"-account", "a.b", "-username", "u"}, "account \"a.b\""},
		{inviteEnv, []string{"-account", "acme"}, "-username are required"},
		{inviteEnv, []string{"-account", "acme", "-username", "u", "-expires", "5000h"}, "-expires"},
		{append([]string{"KLICKTIPP_USERNAME=x", "KLICKTIPP_PASSWORD=p"}, inviteEnv...), []string{"-account", "default", "-username", "u"}, "already defined by env"},
	} {
		code, out, errs := e.runEnv(t, c.env, append([]string{"accounts", "invite"}, c.args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errs, c.want) {
			t.Errorf("invite %v: %d %q %q, want exit 2 mentioning %q", c.args, code, out, errs, c.want)
		}
	}
}

func TestAccountsListRevokeRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	kv, err := vault.Ensure(ctx, e.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := vault.ParseMasterKey(testMasterKey)
	const ck = "CANARYcustomerkey-acme-wxyz"
	if _, err := vault.New(kv, old).Grant(ctx, "acme", "acme-user", ck); err != nil {
		t.Fatal(err)
	}
	file := e.write(t, "accounts.json", `{"filed": {"klicktipp": {"username": "fu", "developerKey": "0123456789abcdef", "customerKey": "CANARYfiledkey-1234"}}}`)
	envs := []string{"KLICKTIPP_USERNAME=envuser", "KLICKTIPP_PASSWORD=CANARYpw", "ACCOUNTS_FILE=" + file}
	code, out, _ := e.runEnv(t, envs, "accounts", "list")
	if code != 0 {
		t.Fatalf("list: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("list:\n%s", out)
	}
	for i, want := range [][]string{
		{"acme", "acme-user", "partner", "onboarding", "…wxyz"},
		{"default", "envuser", "session", "env"},
		{"filed", "fu", "partner", "file", "…1234"},
	} {
		f := strings.Fields(lines[i+1])
		for _, w := range want {
			if !strings.Contains(strings.Join(f, " "), w) {
				t.Errorf("row %d %q lacks %q", i+1, lines[i+1], w)
			}
		}
	}
	if strings.Contains(out, "CANARY") {
		t.Errorf("list shows a secret:\n%s", out)
	}

	// Rotation: the new key seals, the previous one opens what it sealed.
	code, _, errs := e.runEnv(t, []string{"ACCOUNTS_MASTER_KEY=" + testNewKey, "KLICKTIPP_DEVELOPER_KEY=0123456789abcdef"}, "accounts", "rotate-master-key")
	if code != exitRejects || !strings.Contains(errs, "ACCOUNTS_MASTER_KEY_PREVIOUS") {
		t.Errorf("rotate without the previous key: %d %q", code, errs)
	}
	code, out, _ = e.runEnv(t, []string{"ACCOUNTS_MASTER_KEY=" + testNewKey, "ACCOUNTS_MASTER_KEY_PREVIOUS=" + testMasterKey, "KLICKTIPP_DEVELOPER_KEY=0123456789abcdef"}, "accounts", "rotate-master-key")
	if code != 0 || !strings.Contains(out, "re-sealed 1") {
		t.Fatalf("rotate: %d %q", code, out)
	}
	cur, _ := vault.ParseMasterKey(testNewKey)
	if a, err := vault.New(kv, cur).Get(ctx, "acme"); err != nil || a.CustomerKey != ck {
		t.Errorf("after rotation the new key alone: %+v %v", a, err)
	}

	code, out, _ = e.runEnv(t, nil, "accounts", "revoke", "acme")
	if code != 0 || !strings.Contains(out, "revoked acme") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if code, _, errs := e.runEnv(t, nil, "accounts", "revoke", "acme"); code != exitRejects || !strings.Contains(errs, "not granted") {
		t.Errorf("second revoke: %d %q", code, errs)
	}
	if code, out, _ := e.runEnv(t, nil, "accounts", "list"); code != 0 || strings.Contains(out, "acme") {
		t.Errorf("list after revoke: %d\n%s", code, out)
	}
	if code, _, _ := e.runEnv(t, nil, "accounts", "frobnicate"); code != exitUsage {
		t.Errorf("unknown subcommand: %d", code)
	}
}
