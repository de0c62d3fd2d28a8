package account_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/account"
	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
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
		`{"acme": {"klipy": {}}}`:                                                            "klipy.apiKey is required",
		`{"acme": {"klicktipp": {"password": "pw-canary"}}}`:                                 "klicktipp.username is required",
		`{"a b": {"klipy": {"apiKey": "k"}}}`:                                                "account name",
		`{"acme": {"klipy": {"apiKey": "k", "apiKeyFile": "/x"}}}`:                           "klipy.apiKey is given both inline and as a file",
		`{"acme": {"klipy": {"apiKeyFile": "/nonexistent/key"}}}`:                            "klipy.apiKeyFile /nonexistent/key cannot be read",
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
	locks := jobs.NewLocks(nil)
	r, err := account.New(account.Config{Locks: locks, Profiles: map[string]account.Profile{
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
	} else if k, ok := h.(*jobs.KlickTippUpsert); !ok {
		t.Errorf("handler %T", h)
	} else if k.Locks != locks || k.Credential != "u" {
		t.Errorf("klicktipp handler: locks %p (want %p), credential %q (want the username)", k.Locks, locks, k.Credential)
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

// TestLimitersOnFirstUse: New builds no limiter (a registry of thousands of
// accounts costs nothing until a job names one); Route builds them.
func TestLimitersOnFirstUse(t *testing.T) {
	t.Parallel()
	lims := limiter.NewRegistry(limiter.Config{})
	t.Cleanup(func() { lims.Close() })
	r, err := account.New(account.Config{Profiles: map[string]account.Profile{
		"a": {Klipy: &account.Klipy{APIKey: "klipy_api_a"}},
		"b": {Klipy: &account.Klipy{APIKey: "klipy_api_b"}},
	}, Defaults: account.Defaults{KlipyRate: 1, KlipyBurst: 1}, Limiters: lims})
	if err != nil {
		t.Fatal(err)
	}
	if n := lims.Len(); n != 0 {
		t.Fatalf("%d limiters after New, want 0", n)
	}
	if _, err := r.Route(&jobs.Job{Kind: jobs.KindContactUpsert, Target: "klipy", Account: "a"}); err != nil {
		t.Fatal(err)
	}
	if n := lims.Len(); n != 1 || r.Len() != 2 {
		t.Fatalf("%d limiters after routing one account's job (of %d accounts), want 1", n, r.Len())
	}
}

// TestKlipyOrganisationBudget: keys of one organisation share its budget
// beside their own; a key of another organisation does not.
func TestKlipyOrganisationBudget(t *testing.T) {
	t.Parallel()
	srv := klipytest.NewServer(
		klipytest.WithAPIKey(klipytest.APIKey{Key: "klipy_api_a1", Team: "A", Organisation: "acme"}),
		klipytest.WithAPIKey(klipytest.APIKey{Key: "klipy_api_a2", Team: "A2", Organisation: "acme"}),
		klipytest.WithAPIKey(klipytest.APIKey{Key: "klipy_api_b1", Team: "B", Organisation: "beta"}),
	)
	t.Cleanup(srv.Close)
	lims := limiter.NewRegistry(limiter.Config{MaxWait: time.Millisecond})
	t.Cleanup(func() { lims.Close() })
	r, err := account.New(account.Config{Profiles: map[string]account.Profile{
		"a1": {Klipy: &account.Klipy{APIKey: "klipy_api_a1", Organization: "acme"}},
		"a2": {Klipy: &account.Klipy{APIKey: "klipy_api_a2", Organization: "acme"}},
		"b1": {Klipy: &account.Klipy{APIKey: "klipy_api_b1", Organization: "beta"}},
	}, Defaults: account.Defaults{KlipyBaseURL: srv.URL, KlipyRate: 100, KlipyBurst: 100, KlipyOrgRate: 1.0 / 60, KlipyOrgBurst: 2},
		Limiters: lims})
	if err != nil {
		t.Fatal(err)
	}
	call := func(acct string) error {
		h, err := r.Route(&jobs.Job{Kind: jobs.KindContactUpsert, Target: "klipy", Account: acct})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.(*jobs.KlipyUpsert).Client.Authenticate(context.Background())
		return err
	}
	for _, acct := range []string{"a1", "a2"} {
		if err := call(acct); err != nil {
			t.Fatalf("%s within the organisation's burst: %v", acct, err)
		}
	}
	if err := call("a1"); !errors.Is(err, apis.ErrRateLimited) {
		t.Errorf("a1 after acme's budget is spent: %v, want ErrRateLimited", err)
	}
	if err := call("a2"); !errors.Is(err, apis.ErrRateLimited) {
		t.Errorf("a2 (same organisation, own key idle) after acme's budget is spent: %v, want ErrRateLimited", err)
	}
	if err := call("b1"); err != nil {
		t.Errorf("b1 of another organisation: %v", err)
	}
}

// TestClickyIDBulkPerMinute: with the guide's defaults, bulk validation
// keeps to its class's 10 a minute (burst 20) over ten minutes, against a
// fake enforcing the guide's windows, without a single 429, although the
// key's hourly budget (0.27/s, burst 5) alone would allow about 16 a minute.
func TestClickyIDBulkPerMinute(t *testing.T) {
	t.Parallel()
	clock := limitertest.NewClock(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	srv := clickyidtest.NewServer(clickyidtest.WithClock(clock.Now), clickyidtest.WithRealLimits())
	t.Cleanup(srv.Close)
	lims := limiter.NewRegistry(limiter.Config{Clock: clock, MaxWait: time.Nanosecond})
	t.Cleanup(func() { lims.Close() })
	r, err := account.New(account.Config{Profiles: map[string]account.Profile{
		"default": {ClickyID: &account.ClickyID{APIKey: clickyidtest.DefaultAPIKey}},
	}, Defaults: account.Defaults{ClickyIDBaseURL: srv.URL, ClickyIDRate: 0.27, ClickyIDBurst: 5,
		ClickyIDClasses: map[string]account.ClassBudget{
			clickyid.ClassBulk:         {PerMinute: 10, Burst: 20},
			clickyid.ClassTargetGroups: {PerMinute: 50, Burst: 100},
		}}, Limiters: lims})
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Route(&jobs.Job{Kind: jobs.KindEmailValidate, Account: "default"})
	if err != nil {
		t.Fatal(err)
	}
	c := h.(*jobs.ClickyIDValidate).Client
	end := clock.Now().Add(10 * time.Minute)
	sent := 0
	for clock.Now().Before(end) {
		_, err := c.ValidateBulk(context.Background(), clickyid.BulkRequest{Emails: []string{"a@uni.example"}, TargetGroupIDs: []string{clickyidtest.TargetGroupUni}})
		var be *limiter.BlockedError
		switch {
		case err == nil:
			sent++
		case errors.As(err, &be):
			clock.Advance(be.Wait)
		default:
			t.Fatalf("ValidateBulk: %v", err)
		}
	}
	if limit := 20 + 10*10; sent > limit {
		t.Errorf("%d bulk calls in 10 minutes, above the class's %d", sent, limit)
	}
	if sent < 100 {
		t.Errorf("only %d bulk calls in 10 minutes; the class allows 120", sent)
	}
}

// TestProfileErrorsNameKeys: a profile's unusable value is named as
// ACCOUNTS_FILE spells it (section and JSON key), with the account, never
// as the client's Go field, and never with the secret.
func TestProfileErrorsNameKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		p     account.Profile
		field string
		want  string
	}{
		{account.Profile{ClickyID: &account.ClickyID{APIKey: "ck_live_secret-canary"}}, "apiKey",
			`account "acme": clickyid.apiKey is malformed (want ck_live_ and 40 hex characters)`},
		{account.Profile{ClickyID: &account.ClickyID{APIKey: clickyidtest.DefaultAPIKey, BaseURL: "http://clickyid.example.com"}}, "baseUrl",
			`account "acme": clickyid.baseUrl is not usable: "http://clickyid.example.com" must be https://`},
		{account.Profile{Klipy: &account.Klipy{APIKey: "klipy secret-canary"}}, "apiKey",
			`account "acme": klipy.apiKey must not contain whitespace or control characters`},
		{account.Profile{Klipy: &account.Klipy{APIKey: "k", BaseURL: "ftp://klipy.example.com"}}, "baseUrl",
			`account "acme": klipy.baseUrl is not usable: "ftp://klipy.example.com" must be https://`},
		{account.Profile{KlickTipp: &account.KlickTipp{Username: "u", DeveloperKey: "secret-canary", CustomerKey: "c"}}, "developerKey",
			`account "acme": klicktipp.developerKey is not hex`},
		{account.Profile{KlickTipp: &account.KlickTipp{Username: "u", Password: "secret-canary", DeveloperKey: "ab"}}, "customerKey",
			`account "acme": klicktipp.customerKey is required with developerKey`},
		{account.Profile{KlickTipp: &account.KlickTipp{Username: "u", Password: "secret-canary", CustomerKey: "c"}}, "developerKey",
			`account "acme": klicktipp.developerKey is required with customerKey`},
		{account.Profile{KlickTipp: &account.KlickTipp{Username: "u", Password: "p", BaseURL: "not a url"}}, "baseUrl",
			`account "acme": klicktipp.baseUrl is not usable`},
	}
	for _, c := range cases {
		_, err := account.New(account.Config{Profiles: map[string]account.Profile{"acme": c.p}})
		var pe *account.ProfileError
		if !errors.As(err, &pe) {
			t.Errorf("New(%+v) = %v, want a *ProfileError", c.p, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) || pe.Field != c.field || strings.Contains(err.Error(), "Config.") {
			t.Errorf("New = %q (field %q), want %q… (field %q)", err, pe.Field, c.want, c.field)
		}
		if strings.Contains(err.Error(), "secret-canary") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}
