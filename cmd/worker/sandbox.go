package main

import (
	"net/http"

	"crmsync/internal/account"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
)

// sandbox is the three fake APIs served in-process on loopback, with their
// seeded state, for `worker -sandbox`.
type sandbox struct {
	kt *klicktipptest.Server
	kl *klipytest.Server
	ci *clickyidtest.Server
}

func startSandbox() *sandbox {
	return &sandbox{kt: klicktipptest.NewServer(), kl: klipytest.NewServer(), ci: clickyidtest.NewServer()}
}

func (s *sandbox) Close() error {
	s.kt.Close()
	s.kl.Close()
	s.ci.Close()
	return nil
}

// profile is the "default" account pointing at the fakes with their
// sandbox credentials (KlickTipp in session mode, as most accounts are).
func (s *sandbox) profile() map[string]account.Profile {
	return map[string]account.Profile{jobs.DefaultAccount: {
		KlickTipp: &account.KlickTipp{BaseURL: s.kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password},
		Klipy:     &account.Klipy{BaseURL: s.kl.URL, APIKey: klipytest.DefaultAPIKey},
		ClickyID:  &account.ClickyID{BaseURL: s.ci.URL, APIKey: clickyidtest.DefaultAPIKey},
	}}
}

// routes serves the fakes' state on the worker's HTTP port:
// /sandbox/klicktipp, /sandbox/klipy, /sandbox/clickyid (JSON snapshots),
// /sandbox/klicktipp/subscribers (the subscribers alone), and the fake
// grant dialog /sandbox/klicktipp/grantapiaccess/<id>?url=....
func (s *sandbox) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /sandbox/klicktipp": s.kt.StateHandler(),
		"GET /sandbox/klicktipp/subscribers": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, s.kt.Subscribers())
		}),
		"GET /sandbox/klipy":                  s.kl.StateHandler(),
		"GET /sandbox/klipy/people":           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.kl.People()) }),
		"GET /sandbox/clickyid":               s.ci.StateHandler(),
		"GET /sandbox/clickyid/target-groups": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, s.ci.TargetGroups()) }),

		// KlickTipp's grant dialog, for partner onboarding: invites made
		// with KLICKTIPP_APP_URL=http://<HTTP_ADDR>/sandbox/klicktipp.
		"GET /sandbox/klicktipp/grantapiaccess/{id}": s.kt.GrantPage(),
	}
}

func (m *Main) sandboxRoutes() map[string]http.Handler {
	if m.sb == nil {
		return nil
	}
	return m.sb.routes()
}
