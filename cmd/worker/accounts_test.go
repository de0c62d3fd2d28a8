package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"crmsync/internal/config"
)

// TestProfileErrorNamesKeys: an unusable value in ACCOUNTS_FILE stops the
// start with one line naming the file's variable, the account and the
// value's JSON key (not a Go field); one of the default account from the
// environment names its variable.
func TestProfileErrorNamesKeys(t *testing.T) {
	accounts := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(accounts, []byte(`{"acme": {"clickyid": {"apiKey": "ck_live_nothex-canary"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"ACCOUNTS_FILE=" + accounts},
			`ACCOUNTS_FILE: account "acme": clickyid.apiKey is malformed (want ck_live_ and 40 hex characters)`},
		{[]string{"KLICKTIPP_USERNAME=u", "KLICKTIPP_DEVELOPER_KEY=not-hex-canary", "KLICKTIPP_CUSTOMER_KEY=c"},
			`KLICKTIPP_DEVELOPER_KEY: `},
		{[]string{"KLICKTIPP_USERNAME=u", "KLICKTIPP_PASSWORD=p-canary", "KLICKTIPP_CUSTOMER_KEY=c"},
			`KLICKTIPP_DEVELOPER_KEY: `},
	} {
		cfg, err := config.Load(c.env)
		if err == nil {
			prof, perr := profiles(cfg)
			if perr == nil {
				perr = checkProfiles(cfg, prof, false)
			}
			err = perr
		}
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "canary") ||
			strings.Contains(err.Error(), "Config.") || strings.Contains(err.Error(), "\n") {
			t.Errorf("start with %v: %v; want one line starting %q, no secret", c.env, err, c.want)
		}
		t.Logf("%v", err)
	}
}
