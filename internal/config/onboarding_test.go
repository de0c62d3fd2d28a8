package config_test

import (
	"strings"
	"testing"

	"crmsync/internal/config"
)

const (
	testMasterKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testSecret    = "onboarding-secret-0123456789abcdef"
	testDevKey    = "0123456789abcdef"
)

// onboardingEnv is a complete onboarding configuration: the developer key
// alone, no KLICKTIPP_USERNAME, customer key or password.
func onboardingEnv(extra ...string) []string {
	return append([]string{
		"ONBOARDING_ADDR=127.0.0.1:8081", "ONBOARDING_PUBLIC_URL=https://crm.example.com",
		"ONBOARDING_SECRET=" + testSecret, "ACCOUNTS_MASTER_KEY=" + testMasterKey,
		"KLICKTIPP_DEVELOPER_KEY=" + testDevKey, "KLICKTIPP_PARTNER_ACCOUNT_ID=4711",
	}, extra...)
}

func TestOnboardingConfig(t *testing.T) {
	t.Parallel()
	c, err := config.Load(onboardingEnv())
	if err == nil {
		err = c.CheckOnboarding()
	}
	if err != nil {
		t.Fatalf("developer key alone with onboarding: %v", err)
	}
	if !c.Onboarding() || !c.LiveAccounts() || c.KlickTippAppURL != "https://app.klicktipp.com" {
		t.Errorf("onboarding %v live %v app %q", c.Onboarding(), c.LiveAccounts(), c.KlickTippAppURL)
	}
	if err := c.CheckInvite(); err != nil {
		t.Errorf("CheckInvite: %v", err)
	}
	if sv := strings.Join(c.SecretValues(), " "); !strings.Contains(sv, testMasterKey) || !strings.Contains(sv, testSecret) {
		t.Error("SecretValues lacks the onboarding secrets")
	}
	// A replica that only runs onboarded accounts needs the master key and
	// the developer key, not the callback's settings.
	if c, err := config.Load([]string{"ACCOUNTS_MASTER_KEY=" + testMasterKey, "KLICKTIPP_DEVELOPER_KEY=" + testDevKey}); err != nil || c.CheckOnboarding() != nil {
		t.Errorf("replica without callback: %v", err)
	}
	// enqueue shares the worker's environment and needs none of it.
	if _, err := config.Load([]string{"ONBOARDING_ADDR=:8081", "ACCOUNTS_MASTER_KEY=" + testMasterKey}); err != nil {
		t.Errorf("Load with an incomplete onboarding setup: %v", err)
	}
	// Loopback may be http.
	if _, err := config.Load(onboardingEnv("ONBOARDING_PUBLIC_URL=http://127.0.0.1:8081")); err != nil {
		t.Errorf("loopback public URL: %v", err)
	}
	// Without onboarding the developer key alone is still an error.
	if _, err := config.Load([]string{"KLICKTIPP_DEVELOPER_KEY=" + testDevKey}); err == nil {
		t.Error("developer key alone without onboarding accepted")
	}
	if c, _ := config.Load(nil); c.CheckInvite() == nil {
		t.Error("CheckInvite without settings passed")
	}
}

func TestOnboardingConfigErrors(t *testing.T) {
	t.Parallel()
	drop := func(v string) []string {
		var out []string
		for _, kv := range onboardingEnv() {
			if !strings.HasPrefix(kv, v+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	cases := []struct {
		env  []string
		want string
	}{
		{drop("ONBOARDING_SECRET"), "ONBOARDING_SECRET: "},
		{drop("ACCOUNTS_MASTER_KEY"), "ACCOUNTS_MASTER_KEY: "},
		{drop("KLICKTIPP_DEVELOPER_KEY"), "KLICKTIPP_DEVELOPER_KEY: "},
		{drop("ONBOARDING_PUBLIC_URL"), "ONBOARDING_PUBLIC_URL: "},
		{drop("KLICKTIPP_PARTNER_ACCOUNT_ID"), "KLICKTIPP_PARTNER_ACCOUNT_ID: "},
		{onboardingEnv("ONBOARDING_SECRET=short"), "ONBOARDING_SECRET: "},
		{onboardingEnv("ACCOUNTS_MASTER_KEY=" + testMasterKey[:62]), "ACCOUNTS_MASTER_KEY: "},
		{onboardingEnv("ACCOUNTS_MASTER_KEY_PREVIOUS=zz"), "ACCOUNTS_MASTER_KEY_PREVIOUS: "},
		{onboardingEnv("ONBOARDING_PUBLIC_URL=http://crm.example.com"), "ONBOARDING_PUBLIC_URL: "},
		{onboardingEnv("ONBOARDING_PUBLIC_URL=https://crm.example.com/?a=b"), "ONBOARDING_PUBLIC_URL: "},
		{onboardingEnv("ONBOARDING_ADDR=8081"), "ONBOARDING_ADDR: "},
		{onboardingEnv("ONBOARDING_ADDR=127.0.0.1:8080", "HTTP_ADDR=127.0.0.1:8080"), "ONBOARDING_ADDR: "},
		{onboardingEnv("KLICKTIPP_PARTNER_ACCOUNT_ID=47/11"), "KLICKTIPP_PARTNER_ACCOUNT_ID: "},
		{onboardingEnv("KLICKTIPP_APP_URL=http://app.example.com"), "KLICKTIPP_APP_URL: "},
		{[]string{"ACCOUNTS_MASTER_KEY=" + testMasterKey}, "KLICKTIPP_DEVELOPER_KEY: "},
		{[]string{"ACCOUNTS_MASTER_KEY_PREVIOUS=" + testMasterKey}, "ACCOUNTS_MASTER_KEY: "},
	}
	for _, tc := range cases {
		c, err := config.Load(tc.env)
		if err == nil {
			err = c.CheckOnboarding()
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want %q", tc.env, err, tc.want)
			continue
		}
		for _, s := range []string{testMasterKey, testSecret, testMasterKey[:62]} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
	}
}
