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
}

func (r *readiness) set(nc *nats.Conn, bound bool, reason string) {
	r.mu.Lock()
	r.nc, r.bound, r.reason = nc, bound, reason
	r.mu.Unlock()
}

// check returns "" when ready, else why not.
func (r *readiness) check() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.nc == nil:
		return "not connected to NATS yet"
	case !r.nc.IsConnected():
		return "NATS connection is " + r.nc.Status().String()
	case !r.bound:
		if r.reason != "" {
			return r.reason
		}
		return "streams not bound yet"
	}
	return ""
}
