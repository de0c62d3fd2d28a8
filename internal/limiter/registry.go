package limiter

import (
	"sync"
)

// Registry hands out one Limiter per (API, credential), so that every
// account profile using the same key or username shares one budget and one
// block. It is safe for concurrent use.
type Registry struct {
	base Config

	mu       sync.Mutex
	limiters map[string]*Limiter // by API and hashed credential
	closed   bool
}

// NewRegistry returns a Registry whose limiters take MaxBlock, MaxWait,
// Clock, KV, KVTimeout, KVRetry, Metrics and Logger from base (API, Credential, Rate
// and Burst in base are ignored; For supplies them).
func NewRegistry(base Config) *Registry {
	return &Registry{base: base, limiters: map[string]*Limiter{}}
}

// For returns the Limiter for api and credential, creating it with rate and
// burst on first use. Later calls for the same pair return the same Limiter
// and ignore rate and burst (a differing value is logged at warn). It
// returns New's validation error, or ErrClosed after Close.
func (r *Registry) For(api, credential string, rate float64, burst int) (*Limiter, error) {
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
	cfg.API, cfg.Credential, cfg.Rate, cfg.Burst = api, credential, rate, burst
	l, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.limiters[k] = l
	return l, nil
}

// Close closes every Limiter handed out (they keep limiting locally) and
// makes For return ErrClosed. It is safe to call more than once and returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	ls := make([]*Limiter, 0, len(r.limiters))
	for _, l := range r.limiters {
		ls = append(ls, l)
	}
	r.closed = true
	r.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	return nil
}
