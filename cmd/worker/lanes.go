package main

import (
	"time"

	"crmsync/internal/account"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// credentials lists every account's APIs (the lanes created at start) and
// returns a Pace reading each one's limiter, so the scheduler does not
// start jobs that would only wait on a credential's rate limit.
func credentials(c *config.Config, profiles map[string]account.Profile, lims *limiter.Registry) ([]jobs.Credential, func(jobs.Credential) time.Duration) {
	d := defaults(c)
	var creds []jobs.Credential
	byCred := map[jobs.Credential]*limiter.Limiter{}
	add := func(api, acct, credential string, rate float64, burst int) {
		cr := jobs.Credential{API: api, Account: acct}
		creds = append(creds, cr)
		// The same limiter the account's client waits on (the registry
		// hands out one per API and credential; rate and burst resolved
		// as the account registry does).
		if l, err := lims.For(api, credential, rate, burst); err == nil {
			byCred[cr] = l
		}
	}
	for name, p := range profiles {
		if k := p.KlickTipp; k != nil {
			add(jobs.APIKlickTipp, name, k.Username, orF(k.Rate, d.KlickTippRate), orI(k.Burst, d.KlickTippBurst))
		}
		if k := p.Klipy; k != nil {
			add(jobs.APIKlipy, name, k.APIKey, orF(k.Rate, d.KlipyRate), orI(k.Burst, d.KlipyBurst))
		}
		if k := p.ClickyID; k != nil {
			add(jobs.APIClickyID, name, k.APIKey, orF(k.Rate, d.ClickyIDRate), orI(k.Burst, d.ClickyIDBurst))
		}
	}
	return creds, func(cr jobs.Credential) time.Duration {
		if l := byCred[cr]; l != nil {
			return l.Delay()
		}
		return 0
	}
}

// liveSlots maps WORKER_LIVE_SLOTS to jobs.Config.LiveSlots (0 there is the default 1).
func liveSlots(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func orF(a, b float64) float64 {
	if a > 0 {
		return a
	}
	return b
}

func orI(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}
