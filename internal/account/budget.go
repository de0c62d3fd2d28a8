package account

import (
	"sort"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/limiter"
)

// budgets builds the limiters of one account's client. A nil reg builds
// none (the profile check at start).
type budgets struct{ reg *limiter.Registry }

// one returns the limiter of b, or nil without a registry.
func (s *budgets) one(b limiter.Budget) (apis.Limiter, error) {
	if s.reg == nil {
		return nil, nil
	}
	return s.reg.ForBudget(b)
}

// klipy returns the key's limiter (200/min by default), joined with its
// organisation's (Defaults.KlipyOrgRate, shared by every key naming the
// organisation) when the profile names one. The organisation's budget is
// waited on but not told the answers: Klipy's headers do not say which of
// the two budgets they describe, so the key's limiter reads them.
func (s *budgets) klipy(k *Klipy, d Defaults) (apis.Limiter, error) {
	if s.reg == nil {
		return nil, nil
	}
	key, err := s.reg.ForBudget(limiter.Budget{API: "klipy", Credential: k.APIKey, Rate: or(k.Rate, d.KlipyRate), Burst: orInt(k.Burst, d.KlipyBurst)})
	if err != nil || k.Organization == "" || d.KlipyOrgRate <= 0 {
		return key, err
	}
	org, err := s.reg.ForBudget(limiter.Budget{API: "klipy_org", Credential: k.Organization, Rate: d.KlipyOrgRate, Burst: max(d.KlipyOrgBurst, 1)})
	if err != nil {
		return nil, err
	}
	return limiter.Join(key).AndBudget(org), nil
}

// clickyID returns the key's hourly limiter (ClickyIDRate; it reads answers
// whose X-RateLimit-Window is an hour, or has none) and, per endpoint class
// of Defaults.ClickyIDClasses, the class's per-minute limiter (reading
// answers of a 60 s window) joined with the hourly one.
func (s *budgets) clickyID(k *ClickyID, d Defaults) (apis.Limiter, map[string]apis.Limiter, error) {
	if s.reg == nil {
		return nil, nil, nil
	}
	hour, err := s.reg.ForBudget(limiter.Budget{API: "clickyid", Credential: k.APIKey, Rate: or(k.Rate, d.ClickyIDRate),
		Burst: orInt(k.Burst, d.ClickyIDBurst), Window: time.Hour})
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(d.ClickyIDClasses))
	for c := range d.ClickyIDClasses {
		names = append(names, c)
	}
	sort.Strings(names)
	classes := map[string]apis.Limiter{}
	for _, c := range names {
		cb := d.ClickyIDClasses[c]
		if cb.PerMinute <= 0 {
			continue
		}
		l, err := s.reg.ForBudget(limiter.Budget{API: "clickyid_" + c, Credential: k.APIKey,
			Rate: cb.PerMinute / 60, Burst: max(cb.Burst, 1), Window: time.Minute})
		if err != nil {
			return nil, nil, err
		}
		classes[c] = limiter.Join(l, hour)
	}
	return hour, classes, nil
}
