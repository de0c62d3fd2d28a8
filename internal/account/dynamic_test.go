package account_test

import (
	"errors"
	"testing"

	"crmsync/internal/account"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/jobs"
)

func TestDynamicAccounts(t *testing.T) {
	t.Parallel()
	var dyn account.Dynamic
	r, err := account.New(account.Config{
		Profiles: map[string]account.Profile{"static": {KlickTipp: &account.KlickTipp{Username: "s", Password: "p"}}},
		Defaults: account.Defaults{KlickTippBaseURL: "https://api.klicktipp.com", KlickTippRate: 1, KlickTippBurst: 1},
		Dynamic:  &dyn,
	})
	if err != nil {
		t.Fatal(err)
	}
	job := &jobs.Job{Kind: jobs.KindContactUpsert, Target: "klicktipp", Account: "acme"}
	client := func() *klicktipp.Client {
		t.Helper()
		h, err := r.Route(job)
		if err != nil {
			t.Fatalf("Route: %v", err)
		}
		return h.(*jobs.KlickTippUpsert).Client
	}
	if _, err := r.Route(job); !errors.Is(err, account.ErrNoCredentials) {
		t.Fatalf("before grant: %v", err)
	}
	partner := func(key string) account.Profile {
		return account.Profile{KlickTipp: &account.KlickTipp{Username: "acme-user", DeveloperKey: "0123456789abcdef", CustomerKey: key}}
	}
	dyn.Set("acme", partner("customer-key-1"))
	c1 := client()
	if c1.Mode() != klicktipp.ModePartner {
		t.Errorf("mode %v", c1.Mode())
	}
	if client() != c1 {
		t.Error("handler not cached while the grant stands")
	}
	dyn.Set("acme", partner("customer-key-2"))
	if client() == c1 {
		t.Error("re-grant kept the old client")
	}
	if !dyn.Remove("acme") || dyn.Remove("acme") {
		t.Error("Remove reports wrongly")
	}
	if _, err := r.Route(job); !errors.Is(err, account.ErrNoCredentials) {
		t.Errorf("after revoke: %v", err)
	}
	// A static profile wins over a dynamic one of the same name.
	dyn.Set("static", partner("customer-key-3"))
	h, err := r.Route(&jobs.Job{Kind: jobs.KindContactUpsert, Target: "klicktipp", Account: "static"})
	if err != nil || h.(*jobs.KlickTippUpsert).Client.Mode() != klicktipp.ModeSession {
		t.Errorf("static account: %v", err)
	}
	if got := dyn.Names(); len(got) != 1 || got[0] != "static" {
		t.Errorf("Names = %v", got)
	}
}
