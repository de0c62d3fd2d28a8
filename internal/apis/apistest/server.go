package apistest

import (
	"net/http"
	"net/http/httptest"
)

// Server is what every fake API server shares: an httptest server on
// 127.0.0.1 whose handler records each request, injects faults and applies
// a rate limit before the fake's own routes. A fake embeds it and calls
// Start once its state is ready. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234 (no trailing slash).
	URL string

	rec     Recorder
	inj     Injector
	ts      *httptest.Server
	handler http.Handler
}

// Start wraps routes in Middleware (recording, faults, lim, which may be
// nil) and starts listening on a random loopback port.
func (s *Server) Start(routes http.Handler, lim *Limiter, shapes Shapes) {
	s.handler = Middleware(routes, &s.rec, &s.inj, lim, shapes)
	s.ts = httptest.NewServer(s.handler)
	s.URL = s.ts.URL
}

// Handler returns the fake's handler, middleware included, for mounting
// elsewhere (the worker's sandbox mode).
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases hanging requests and shuts the listener down.
func (s *Server) Close() {
	s.inj.Close()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request { return s.rec.Requests() }

// Count returns how many requests matched method and path ("" matches any).
func (s *Server) Count(method, path string) int { return s.rec.Count(method, path) }

// SetFaults replaces the injected faults; seed makes the draws repeatable.
func (s *Server) SetFaults(f Faults, seed uint64) { s.inj.Set(f, seed) }

// FaultsInjected returns how many faults of each kind ("fail", "hang",
// "reset", "malformed") were injected so far.
func (s *Server) FaultsInjected() map[string]int { return s.inj.Injected() }
