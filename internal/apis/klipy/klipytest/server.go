package klipytest

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/internal/apis/apistest"
)

// Seeded credentials and team.
const (
	DefaultAPIKey       = "klipy_api_sandbox4f1c2a9e7b3d5c8a0e6f1b2d"
	DefaultTeam         = "Sandbox Team"
	DefaultOrganisation = "org_sandbox"
)

// The real limits: 200 requests per minute per key and 1,000 per minute per
// organisation, fixed windows, X-RateLimit-* headers on every answer and
// Retry-After on 429s.
var (
	RealKeyRateLimit = apistest.RateLimit{Limit: 200, Window: time.Minute, Headers: true, RetryAfter: true}
	RealOrgRateLimit = apistest.RateLimit{Limit: 1000, Window: time.Minute, Headers: true, RetryAfter: true}
)

// APIKey is a key the fake accepts.
type APIKey struct {
	Key          string
	Team         string // default DefaultTeam; people are kept per team
	Organisation string // default DefaultOrganisation; keys of one organisation share its limit
	ReadOnly     bool   // lacks people:write: may authenticate; PUT /people answers 403
}

// Server is a running fake. URL is its base URL (http://127.0.0.1:port).
type Server struct {
	apistest.Server // URL, Handler, Close, Requests, Count, SetFaults, FaultsInjected

	legacyAuth bool // GET /authenticate answers the old guide's {"team_name"}

	keyLim apistest.Limiter // keyed by API key
	orgLim apistest.Limiter // keyed by organisation
	reqSeq atomic.Uint64
	now    func() time.Time

	mu     sync.Mutex
	keys   map[string]APIKey
	teams  map[string]*team // by team name
	seq    int              // last person id number
	upsert int              // successful upserts
}

// Option configures a Server in NewServer.
type Option func(*Server)

// WithAPIKey adds (or replaces) a key. Keys naming the same Organisation
// share its rate limit; keys naming the same Team share its people.
func WithAPIKey(k APIKey) Option {
	return func(s *Server) { s.addKey(k) }
}

// CodeInsufficientScope is the error code of a 403 for a key without the
// scope an endpoint needs (the code's name is a guess; the docs say only 403).
const CodeInsufficientScope = "insufficient_scope"

// WithLegacyAuthenticate makes GET /authenticate answer the old guide's bare
// {"team_name": …} instead of the current envelope with the organisation's
// name in data.
func WithLegacyAuthenticate() Option {
	return func(s *Server) { s.legacyAuth = true }
}

// WithRealRateLimits enforces RealKeyRateLimit and RealOrgRateLimit.
func WithRealRateLimits() Option {
	return func(s *Server) {
		s.keyLim.Set(RealKeyRateLimit)
		s.orgLim.Set(RealOrgRateLimit)
	}
}

// WithRateLimits enforces the given limits per key and per organisation (a
// zero RateLimit disables that one), e.g. the real ones scaled to seconds.
func WithRateLimits(perKey, perOrganisation apistest.RateLimit) Option {
	return func(s *Server) {
		s.keyLim.Set(perKey)
		s.orgLim.Set(perOrganisation)
	}
}

// WithClock sets the clock of the rate-limit windows and timestamps (default
// time.Now), so tests choose where a window ends.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		s.now = now
		s.keyLim.Now = now
		s.orgLim.Now = now
	}
}

// NewServer starts a fake on 127.0.0.1:0 with the seeded key and an empty
// team, then applies opts. Rate limits are off unless an option enables them.
// Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		now:   time.Now,
		keys:  map[string]APIKey{},
		teams: map[string]*team{},
	}
	s.addKey(APIKey{Key: DefaultAPIKey, Team: DefaultTeam, Organisation: DefaultOrganisation})
	for _, o := range opts {
		o(s)
	}
	s.Start(s.routes(), nil, apistest.Shapes{
		Failure: func(w http.ResponseWriter, r *http.Request, status int) {
			s.writeError(w, status, "internal_error", "internal server error")
		},
	})
	return s
}

// SetRateLimit replaces the per-key limit and starts fresh windows; the zero
// RateLimit disables it.
func (s *Server) SetRateLimit(rl apistest.RateLimit) { s.keyLim.Set(rl) }

// SetOrgRateLimit replaces the per-organisation limit and starts fresh
// windows; the zero RateLimit disables it.
func (s *Server) SetOrgRateLimit(rl apistest.RateLimit) { s.orgLim.Set(rl) }

// RateLimited returns how many requests were answered 429.
func (s *Server) RateLimited() int { return s.keyLim.Rejected() + s.orgLim.Rejected() }

func (s *Server) nextRequestID() string {
	return fmt.Sprintf("req_%012x", s.reqSeq.Add(1))
}
