package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"crmsync/internal/apis"
	"crmsync/internal/onboarding"
	"crmsync/internal/vault"
)

// Onboarding reports whether this worker serves the onboarding callback
// (ONBOARDING_ADDR is set).
func (c *Config) Onboarding() bool { return c.OnboardingAddr != "" }

// LiveAccounts reports whether this worker runs the accounts granted
// through onboarding (ACCOUNTS_MASTER_KEY, or the callback, is set). Then
// KLICKTIPP_DEVELOPER_KEY alone is a valid KlickTipp configuration.
func (c *Config) LiveAccounts() bool { return c.AccountsMasterKey != "" || c.Onboarding() }

var partnerIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateOnboarding checks that each onboarding variable given is
// well-formed. Which ones a worker needs is CheckOnboarding's.
func (c *Config) validateOnboarding() error {
	bad := func(v, format string, a ...any) error { return &Error{Var: v, Reason: fmt.Sprintf(format, a...)} }
	if c.Onboarding() {
		if _, port, err := net.SplitHostPort(c.OnboardingAddr); err != nil {
			return bad("ONBOARDING_ADDR", "%q is not host:port (like :8081)", c.OnboardingAddr)
		} else if _, hport, _ := net.SplitHostPort(c.HTTPAddr); port == hport && port != "0" {
			return bad("ONBOARDING_ADDR", "must be its own listener, not HTTP_ADDR's port %s (it faces the internet; /metrics must not)", port)
		}
	}
	if c.AccountsMasterKey != "" {
		if _, err := vault.ParseMasterKey(c.AccountsMasterKey); err != nil {
			return bad("ACCOUNTS_MASTER_KEY", "%v", err)
		}
	}
	if c.AccountsMasterKeyPrevious != "" {
		if c.AccountsMasterKey == "" {
			return bad("ACCOUNTS_MASTER_KEY", "required with ACCOUNTS_MASTER_KEY_PREVIOUS (the new key seals, the previous one only opens)")
		}
		if _, err := vault.ParseMasterKey(c.AccountsMasterKeyPrevious); err != nil {
			return bad("ACCOUNTS_MASTER_KEY_PREVIOUS", "%v", err)
		}
	}
	if c.OnboardingSecret != "" {
		if _, err := onboarding.NewSigner(c.OnboardingSecret); err != nil {
			return bad("ONBOARDING_SECRET", "%v", err)
		}
	}
	if c.OnboardingPublicURL != "" {
		if err := checkPublicURL(c.OnboardingPublicURL); err != nil {
			return bad("ONBOARDING_PUBLIC_URL", "%v", err)
		}
	}
	if c.KlickTippPartnerAccountID != "" && !partnerIDRE.MatchString(c.KlickTippPartnerAccountID) {
		return bad("KLICKTIPP_PARTNER_ACCOUNT_ID", "must be your KlickTipp account id (letters, digits, '_' or '-'), got %q", c.KlickTippPartnerAccountID)
	}
	if _, err := apis.ParseBaseURL(c.KlickTippAppURL, false); err != nil {
		return bad("KLICKTIPP_APP_URL", "%v", err)
	}
	return nil
}

// onboardingSecrets are the non-empty onboarding secrets, for SecretValues.
func (c *Config) onboardingSecrets() []string {
	var out []string
	for _, s := range []string{c.OnboardingSecret, c.AccountsMasterKey, c.AccountsMasterKeyPrevious} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CheckOnboarding reports the first variable a worker with onboarding
// lacks: with ONBOARDING_ADDR, ONBOARDING_SECRET, ACCOUNTS_MASTER_KEY,
// KLICKTIPP_DEVELOPER_KEY, ONBOARDING_PUBLIC_URL and
// KLICKTIPP_PARTNER_ACCOUNT_ID; with ACCOUNTS_MASTER_KEY, the developer key
// (onboarded accounts run in partner mode). The worker calls it at start;
// enqueue, which shares the worker's environment, does not need them.
func (c *Config) CheckOnboarding() error {
	if c.Onboarding() {
		for _, req := range []struct{ v, val string }{
			{"ONBOARDING_SECRET", c.OnboardingSecret}, {"ACCOUNTS_MASTER_KEY", c.AccountsMasterKey},
			{"KLICKTIPP_DEVELOPER_KEY", c.KlickTippDeveloperKey}, {"ONBOARDING_PUBLIC_URL", c.OnboardingPublicURL},
			{"KLICKTIPP_PARTNER_ACCOUNT_ID", c.KlickTippPartnerAccountID},
		} {
			if req.val == "" {
				return &Error{Var: req.v, Reason: "required when ONBOARDING_ADDR is set (KlickTipp partner onboarding)"}
			}
		}
	}
	if c.AccountsMasterKey != "" && c.KlickTippDeveloperKey == "" {
		return &Error{Var: "KLICKTIPP_DEVELOPER_KEY", Reason: "required with ACCOUNTS_MASTER_KEY: onboarded accounts run in partner mode"}
	}
	return nil
}

// checkPublicURL: https (http only for loopback), a host, no query or
// fragment (KlickTipp appends ?customerkey= to the redirect URL).
func checkPublicURL(raw string) error {
	if _, err := apis.ParseBaseURL(raw, false); err != nil {
		return err
	}
	u, _ := url.Parse(strings.TrimSpace(raw))
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") {
		return fmt.Errorf("%q must have no query or fragment (KlickTipp appends ?customerkey=)", u.Redacted())
	}
	return nil
}

// CheckInvite reports the first variable `enqueue accounts invite` needs
// and lacks: KLICKTIPP_PARTNER_ACCOUNT_ID, ONBOARDING_PUBLIC_URL,
// ONBOARDING_SECRET (the worker's, so it can check the token).
func (c *Config) CheckInvite() error {
	for _, req := range []struct{ v, val string }{
		{"KLICKTIPP_PARTNER_ACCOUNT_ID", c.KlickTippPartnerAccountID}, {"ONBOARDING_PUBLIC_URL", c.OnboardingPublicURL},
		{"ONBOARDING_SECRET", c.OnboardingSecret},
	} {
		if req.val == "" {
			return &Error{Var: req.v, Reason: "required to create invites (use the worker's value)"}
		}
	}
	return nil
}
