package metrics

import "github.com/prometheus/client_golang/prometheus"

// Onboarding holds the KlickTipp partner onboarding metrics. A nil
// *Onboarding records nothing.
type Onboarding struct {
	Callbacks *prometheus.CounterVec // crmsync_onboarding_callbacks_total{outcome}
	Accounts  prometheus.Gauge       // crmsync_onboarded_accounts
}

// NewOnboarding creates the onboarding collectors and registers them on
// reg (nil: not registered). Only a worker with live accounts calls it.
func NewOnboarding(reg prometheus.Registerer) *Onboarding {
	o := &Onboarding{
		Callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_onboarding_callbacks_total",
			Help: "Onboarding callback answers, by outcome (granted, expired, used, tampered, rejected, malformed, limited, reserved, not_found, method, body, unavailable).",
		}, []string{"outcome"}),
		Accounts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_onboarded_accounts", Help: "Accounts granted through onboarding that this replica runs now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(o.Callbacks, o.Accounts)
	}
	return o
}

// ObserveCallback counts one callback answer.
func (o *Onboarding) ObserveCallback(outcome string) {
	if o != nil {
		o.Callbacks.WithLabelValues(outcome).Inc()
	}
}

// SetAccounts sets the number of onboarded accounts.
func (o *Onboarding) SetAccounts(n int) {
	if o != nil {
		o.Accounts.Set(float64(n))
	}
}
