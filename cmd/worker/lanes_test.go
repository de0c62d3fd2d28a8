package main

import (
	"cmp"
	"net/http"
	"slices"
	"testing"
	"time"

	"crmsync/internal/account"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// Every static account's APIs get lanes at start, and Pace and Room read the
// very limiter the account's client waits on (static or onboarded accounts).
func TestCredentialsPaceTheirLimiters(t *testing.T) {
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	lims := limiter.NewRegistry(limiter.Config{})
	t.Cleanup(func() { lims.Close() })
	profiles := map[string]account.Profile{
		"default": {KlickTipp: &account.KlickTipp{Username: "ann", Password: "pw"}},
		"acme":    {Klipy: &account.Klipy{APIKey: "klipy_api_acme"}, ClickyID: &account.ClickyID{APIKey: "ck_live_acme"}},
	}
	var dyn account.Dynamic
	dyn.Set("late", account.Profile{Klipy: &account.Klipy{APIKey: "klipy_api_late"}})
	creds, pace, room := credentials(c, profiles, lims, &dyn)
	slices.SortFunc(creds, func(a, b jobs.Credential) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.API, b.API))
	})
	want := []jobs.Credential{{API: "clickyid", Account: "acme"}, {API: "klipy", Account: "acme"}, {API: "klicktipp", Account: "default"}}
	if !slices.Equal(creds, want) {
		t.Fatalf("credentials %v, want %v", creds, want)
	}
	block := func(api, cred string, rate float64, burst int) {
		l, err := lims.For(api, cred, rate, burst)
		if err != nil {
			t.Fatal(err)
		}
		l.Observe(429, http.Header{"Retry-After": []string{"30"}})
	}
	for _, cr := range append(want, jobs.Credential{API: "klipy", Account: "late"}) {
		if d := pace(cr); d != 0 {
			t.Errorf("pace(%v) = %s before any block", cr, d)
		}
		if n := room(cr); n < 1 {
			t.Errorf("room(%v) = %d before any request", cr, n)
		}
	}
	block("klipy", "klipy_api_acme", c.KlipyRate, c.KlipyBurst)
	block("klipy", "klipy_api_late", c.KlipyRate, c.KlipyBurst)
	for cr, blocked := range map[jobs.Credential]bool{
		{API: "klipy", Account: "acme"}: true, {API: "clickyid", Account: "acme"}: false,
		{API: "klicktipp", Account: "default"}: false, {API: "klipy", Account: "late"}: true,
	} {
		if d := pace(cr); (d > 20*time.Second) != blocked {
			t.Errorf("pace(%v) = %s, blocked %v", cr, d, blocked)
		}
		if n := room(cr); (n == 0) != blocked {
			t.Errorf("room(%v) = %d, blocked %v", cr, n, blocked)
		}
	}
}
