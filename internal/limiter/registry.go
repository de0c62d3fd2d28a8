package limiter

import (
	"sync"
	"time"
)

// Registry hands out one Limiter per (API, credential), so that every
// account profile using the same key or username shares one budget and one
// block. It is safe for concurrent use.
//
// With base.KV the Registry's limiters share one watch of the whole bucket
// (one JetStream consumer and one goroutine for the process, started by the
// first For) and one view of KV's health (a KV outage is warned about once
// per API, not once per credential). A Limiter costs nothing until For creates it,
// so ask for one when a credential is first used, not for every configured
// account at start.
type Registry struct {
	base Config

	mu       sync.Mutex
	limiters map[string]*Limiter // by API and hashed credential
	link     *link               // nil until the first For with base.KV
	closed   bool
}

// NewRegistry returns a Registry whose limiters take MaxBlock, MaxWait,
// Clock, KV, KVTimeout, KVRetry, Metrics and Logger from base (API, Credential, Rate
// and Burst in base are ignored; For supplies them). It starts nothing.
func NewRegistry(base Config) *Registry {
	return &Registry{base: base, limiters: map[string]*Limiter{}}
}

// Budget names one budget: the API (or a budget of it, "clickyid_bulk",
// "klipy_org"), the credential (key, username or organisation), Rate and
// Burst, and the API's Window for it (see Config.Window).
type Budget struct {
	API, Credential string
	Rate            float64
	Burst           int
	Window          time.Duration
}

// For returns the Limiter for api and credential, creating it with rate and
// burst on first use. Later calls for the same pair return the same Limiter
// and ignore rate and burst (a differing value is logged at warn). It
// returns New's validation error, or ErrClosed after Close.
func (r *Registry) For(api, credential string, rate float64, burst int) (*Limiter, error) {
	return r.ForBudget(Budget{API: api, Credential: credential, Rate: rate, Burst: burst})
}

// ForBudget is For with a Window.
func (r *Registry) ForBudget(b Budget) (*Limiter, error) {
	api, credential, rate, burst := b.API, b.Credential, b.Rate, b.Burst
	k := api + "." + credentialID(api, credential)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if l, ok := r.limiters[k]; ok {
		if l.rate != rate || (l.burst != burst && !(burst == 0 && l.burst == 1)) {
			l.log.Warn("limiter: credential already has a limiter with another rate or burst; keeping the first",
				"rate", l.rate, "burst", l.burst, "asked_rate", rate, "asked_burst", burst)
		}
		return l, nil
	}
	cfg := r.base
	cfg.API, cfg.Credential, cfg.Rate, cfg.Burst, cfg.Window = api, credential, rate, burst, b.Window
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.KV != nil {
		if r.link == nil {
			d := cfg.withDefaults()
			r.link = newLink(cfg.KV, "", d.KVTimeout, d.KVRetry, d.Logger)
		}
		cfg.link = r.link
	}
	l, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.limiters[k] = l
	return l, nil
}

// Len returns how many limiters the Registry has created.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.limiters)
}

// Close closes every Limiter handed out (they keep limiting locally), stops
// the shared watch and waits for it, and makes For return ErrClosed. It is safe to call more than once and returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	ls := make([]*Limiter, 0, len(r.limiters))
	for _, l := range r.limiters {
		ls = append(ls, l)
	}
	r.closed = true
	k := r.link
	r.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	if k != nil {
		k.close()
	}
	return nil
}
