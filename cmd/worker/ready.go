package main

import (
	"sync"

	"github.com/nats-io/nats.go"
)

// readiness answers /readyz: ready when NATS is connected and the streams
// and consumer are bound; otherwise the reason why not.
type readiness struct {
	mu     sync.Mutex
	nc     *nats.Conn
	bound  bool
	reason string
	url    string // the NATS URL(s), user info redacted
	everUp bool   // connected at least once
}

func (r *readiness) set(nc *nats.Conn, bound bool, reason string) {
	r.mu.Lock()
	r.nc, r.bound, r.reason = nc, bound, reason
	r.mu.Unlock()
}

// where records the (redacted) URL the worker dials, for the reasons.
func (r *readiness) where(url string) {
	r.mu.Lock()
	r.url = url
	r.mu.Unlock()
}

// reached records that the connection came up at least once.
func (r *readiness) reached() {
	r.mu.Lock()
	r.everUp = true
	r.mu.Unlock()
}

// unreached returns why NATS is not usable when it is not connected now:
// never reached at all, or its connection's state; "" when connected.
func (r *readiness) unreached() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachedLocked()
}

func (r *readiness) unreachedLocked() string {
	switch {
	case r.nc == nil:
		return "not connected to NATS yet"
	case r.nc.IsConnected():
		return ""
	case !r.everUp:
		return "NATS at " + r.url + " never reached (nothing answered there yet; still trying): is it running, and is NATS_URL right?"
	}
	return "NATS connection is " + r.nc.Status().String()
}

// check returns "" when ready, else why not.
func (r *readiness) check() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if why := r.unreachedLocked(); why != "" {
		return why
	}
	if !r.bound {
		if r.reason != "" {
			return r.reason
		}
		return "streams not bound yet"
	}
	return ""
}
