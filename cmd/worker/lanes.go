package main

import (
	"time"

	"crmsync/internal/account"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// credentials lists every account's APIs (the lanes created at start) and
// returns the scheduler's Pace and Room, reading each one's limiter, so it
// does not start jobs that would only wait on a credential's rate limit,
// nor ramp up a credential whose budget is plentiful. Accounts onboarded
// while the worker runs (dyn, may be nil) are read too; their lanes are
// created with their first job.
func credentials(c *config.Config, profiles map[string]account.Profile, lims *limiter.Registry, dyn *account.Dynamic) ([]jobs.Credential, func(jobs.Credential) time.Duration, func(jobs.Credential) int) {
	d := defaults(c)
	// The same limiter the account's client waits on: the registry hands
	// out one per API and credential, with rate and burst resolved as the
	// account registry does.
	limiterOf := func(cr jobs.Credential, p account.Profile) *limiter.Limiter {
		var (
			cred  string
			rate  float64
			burst int
		)
		switch k := p; cr.API {
		case jobs.APIKlickTipp:
			if k.KlickTipp == nil {
				return nil
			}
			cred, rate, burst = k.KlickTipp.Username, orF(k.KlickTipp.Rate, d.KlickTippRate), orI(k.KlickTipp.Burst, d.KlickTippBurst)
		case jobs.APIKlipy:
			if k.Klipy == nil {
				return nil
			}
			cred, rate, burst = k.Klipy.APIKey, orF(k.Klipy.Rate, d.KlipyRate), orI(k.Klipy.Burst, d.KlipyBurst)
		case jobs.APIClickyID:
			if k.ClickyID == nil {
				return nil
			}
			cred, rate, burst = k.ClickyID.APIKey, orF(k.ClickyID.Rate, d.ClickyIDRate), orI(k.ClickyID.Burst, d.ClickyIDBurst)
		default:
			return nil
		}
		l, err := lims.For(cr.API, cred, rate, burst)
		if err != nil {
			return nil
		}
		return l
	}
	var creds []jobs.Credential
	byCred := map[jobs.Credential]*limiter.Limiter{}
	for name, p := range profiles {
		for _, api := range jobs.APIs {
			cr := jobs.Credential{API: api, Account: name}
			if l := limiterOf(cr, p); l != nil {
				creds = append(creds, cr)
				byCred[cr] = l
			}
		}
	}
	find := func(cr jobs.Credential) *limiter.Limiter {
		if l := byCred[cr]; l != nil {
			return l
		}
		if dyn != nil {
			if p, ok := dyn.Get(cr.Account); ok {
				return limiterOf(cr, p)
			}
		}
		return nil
	}
	pace := func(cr jobs.Credential) time.Duration {
		if l := find(cr); l != nil {
			return l.Delay()
		}
		return 0
	}
	room := func(cr jobs.Credential) int {
		if l := find(cr); l != nil {
			return l.Room()
		}
		return 0 // unknown: ramp up
	}
	return creds, pace, room
}

// liveSlots maps WORKER_LIVE_SLOTS to jobs.Config.LiveSlots (0 there is the default 1).
func liveSlots(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
