package account_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"crmsync/internal/account"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	key := write(t, "key", "klipy-secret-canary\n")
	p := write(t, "accounts.json", `{
	  "acme": {"klicktipp": {"username": "acme", "password": "pw-canary", "createTags": false},
	           "klipy": {"apiKeyFile": "`+key+`", "rate": 1.5}},
	  "beta": {"clickyid": {"apiKey": "`+clickyidtest.DefaultAPIKey+`"}}}`)
	m, err := account.LoadFile(p)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if m["acme"].Klipy.APIKey != "klipy-secret-canary" || m["acme"].Klipy.Rate != 1.5 || *m["acme"].KlickTipp.CreateTags {
		t.Errorf("acme = %+v", m["acme"])
	}
	if m["beta"].ClickyID == nil || m["beta"].KlickTipp != nil {
		t.Errorf("beta = %+v", m["beta"])
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`{"acme": {"klicktipp": {"username": "a", "password": "pw-canary"},}`: "not valid JSON",
		`{"acme": {"hubspot": {}}}`:                                                          "unknown field",
		`{"acme": {"klipy": {}}}`:                                                            "apiKey is required",
		`{"acme": {"klicktipp": {"password": "pw-canary"}}}`:                                 "username is required",
		`{"a b": {"klipy": {"apiKey": "k"}}}`:                                                "account name",
		`{"acme": {"klipy": {"apiKey": "k", "apiKeyFile": "/x"}}}`:                           "both inline and as a file",
		`{"acme": {"klipy": {"apiKeyFile": "/nonexistent/key"}}}`:                            "cannot be read",
		`{"acme": {"klipy": {"apiKey": "k"}}, "b": {}, "acme": {"klipy": {"apiKey": "k2"}}}`: `account "acme" is defined twice`,
	}
	for body, want := range cases {
		_, err := account.LoadFile(write(t, "a.json", body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadFile(%s) = %v, want %q", body, err, want)
			continue
		}
		if strings.Contains(err.Error(), "pw-canary") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
	if _, err := account.LoadFile("/nonexistent/accounts.json"); err == nil || !strings.Contains(err.Error(), "/nonexistent/accounts.json") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	r, err := account.New(account.Config{Profiles: map[string]account.Profile{
		"default": {ClickyID: &account.ClickyID{APIKey: clickyidtest.DefaultAPIKey}},
		"kt":      {KlickTipp: &account.KlickTipp{Username: "u", Password: "p"}},
	}, Defaults: account.Defaults{ClickyIDBaseURL: "https://clickyid.com/api/v1", KlickTippBaseURL: "https://api.klicktipp.com",
		ClickyIDRate: 1, KlickTippRate: 1, ClickyIDBurst: 1, KlickTippBurst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	h1, err := r.Route(&jobs.Job{Kind: jobs.KindEmailValidate, Account: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h1.(*jobs.ClickyIDValidate); !ok {
		t.Errorf("handler %T", h1)
	}
	h2, _ := r.Route(&jobs.Job{Kind: jobs.KindEmailValidate, Account: "default"})
	if h1 != h2 {
		t.Error("handler not cached per account and API")
	}
	if h, err := r.Route(&jobs.Job{Kind: jobs.KindContactUpsert, Target: "klicktipp", Account: "kt"}); err != nil {
		t.Error(err)
	} else if _, ok := h.(*jobs.KlickTippUpsert); !ok {
		t.Errorf("handler %T", h)
	}
	for _, j := range []*jobs.Job{
		{Kind: jobs.KindContactUpsert, Target: "klipy", Account: "default"},
		{Kind: jobs.KindEmailValidate, Account: "nobody"},
	} {
		if _, err := r.Route(j); !errors.Is(err, account.ErrNoCredentials) {
			t.Errorf("Route(%+v) = %v, want ErrNoCredentials", j, err)
		}
	}
}

func TestNewChecksProfiles(t *testing.T) {
	t.Parallel()
	_, err := account.New(account.Config{Profiles: map[string]account.Profile{
		"acme": {Klipy: &account.Klipy{APIKey: "secret-canary", BaseURL: "http://klipy.example.com"}},
	}, Defaults: account.Defaults{KlipyRate: 1, KlipyBurst: 1}})
	if err == nil || !strings.Contains(err.Error(), `account "acme"`) || strings.Contains(err.Error(), "secret-canary") {
		t.Errorf("New with an http base URL: %v", err)
	}
}
