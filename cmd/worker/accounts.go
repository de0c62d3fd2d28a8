package main

import (
	"errors"
	"fmt"

	"crmsync/internal/account"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/config"
	"crmsync/internal/jobs"
)

// profiles returns the credential profiles: "default" from the environment
// (only the APIs it has credentials for) and those of ACCOUNTS_FILE. A bad
// file is a *config.Error (exit 2).
func profiles(c *config.Config) (map[string]account.Profile, error) {
	out := map[string]account.Profile{}
	if c.AccountsFile != "" {
		m, err := account.LoadFile(c.AccountsFile)
		if err != nil {
			return nil, &config.Error{Var: "ACCOUNTS_FILE", Reason: err.Error()}
		}
		for name := range m {
			if !jobs.ValidAccount(name) {
				// Account names become lane subject tokens and consumer names.
				return nil, &config.Error{Var: "ACCOUNTS_FILE", Reason: fmt.Sprintf("account %q: a name must be 1-64 letters, digits, '_' or '-'", name)}
			}
		}
		out = m
	}
	def := account.Profile{}
	if c.KlickTippUsername != "" {
		def.KlickTipp = &account.KlickTipp{Username: c.KlickTippUsername, Password: c.KlickTippPassword,
			CustomerKey: c.KlickTippCustomerKey}
		if c.KlickTippCustomerKey != "" { // alone, the developer key is for onboarded accounts
			def.KlickTipp.DeveloperKey = c.KlickTippDeveloperKey
		}
	}
	if c.KlipyAPIKey != "" {
		def.Klipy = &account.Klipy{APIKey: c.KlipyAPIKey}
	}
	if c.ClickyIDAPIKey != "" {
		def.ClickyID = &account.ClickyID{APIKey: c.ClickyIDAPIKey}
	}
	if def.KlickTipp != nil || def.Klipy != nil || def.ClickyID != nil {
		if _, dup := out[jobs.DefaultAccount]; dup {
			return nil, &config.Error{Var: "ACCOUNTS_FILE", Reason: `defines account "default", which the KLICKTIPP_*/KLIPY_*/CLICKYID_* variables already define; use one or the other`}
		}
		out[jobs.DefaultAccount] = def
	}
	return out, nil
}

func defaults(c *config.Config) account.Defaults {
	return account.Defaults{
		KlickTippBaseURL: c.KlickTippBaseURL, KlipyBaseURL: c.KlipyBaseURL, ClickyIDBaseURL: c.ClickyIDBaseURL,
		KlickTippRate: c.KlickTippRate, KlipyRate: c.KlipyRate, ClickyIDRate: c.ClickyIDRate,
		KlickTippBurst: c.KlickTippBurst, KlipyBurst: c.KlipyBurst, ClickyIDBurst: c.ClickyIDBurst,
		KlipyOrgRate: c.KlipyOrgPerMinute / 60, KlipyOrgBurst: c.KlipyOrgBurst,
		ClickyIDClasses: map[string]account.ClassBudget{
			clickyid.ClassSingle:       {PerMinute: c.ClickyIDSinglePerMinute, Burst: c.ClickyIDSingleBurst},
			clickyid.ClassBulk:         {PerMinute: c.ClickyIDBulkPerMinute, Burst: c.ClickyIDBulkBurst},
			clickyid.ClassTargetGroups: {PerMinute: c.ClickyIDTargetGroupsPerMinute, Burst: c.ClickyIDTargetGroupsBurst},
			clickyid.ClassOffers:       {PerMinute: c.ClickyIDOffersPerMinute, Burst: c.ClickyIDOffersBurst},
		},
	}
}

// checkProfiles builds every account's clients once, before NATS is even
// dialled, so a malformed key stops the start with exit 2 and the variable
// (or ACCOUNTS_FILE) named, instead of dead-lettering every job later.
func checkProfiles(c *config.Config, p map[string]account.Profile, sandbox bool) error {
	_, err := account.New(account.Config{Profiles: p, Defaults: defaults(c), AllowInsecureHTTP: c.AllowInsecureHTTP || sandbox})
	var pe *account.ProfileError
	if !errors.As(err, &pe) {
		return err
	}
	v, reason := "ACCOUNTS_FILE", pe.Error() // account "acme": clickyid.apiKey is malformed (...)
	if pe.Account == jobs.DefaultAccount && fromEnv(c) {
		if ev, ok := envVars[pe.API+"."+pe.Field]; ok {
			v, reason = ev, pe.Err.Error()
		} else {
			v = map[string]string{"klicktipp": "KLICKTIPP_DEVELOPER_KEY", "klipy": "KLIPY_API_KEY", "clickyid": "CLICKYID_API_KEY"}[pe.API]
		}
	}
	return &config.Error{Var: v, Reason: reason}
}

// envVars names the variable each value of the default account comes from
// (ProfileError's API and Field).
var envVars = map[string]string{
	"klicktipp.username": "KLICKTIPP_USERNAME", "klicktipp.password": "KLICKTIPP_PASSWORD",
	"klicktipp.developerKey": "KLICKTIPP_DEVELOPER_KEY", "klicktipp.customerKey": "KLICKTIPP_CUSTOMER_KEY",
	"klipy.apiKey": "KLIPY_API_KEY", "clickyid.apiKey": "CLICKYID_API_KEY",
}

// fromEnv reports whether the default account comes from the variables.
func fromEnv(c *config.Config) bool {
	return c.KlickTippUsername != "" || c.KlipyAPIKey != "" || c.ClickyIDAPIKey != ""
}
