package clickyidtest

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"crmsync/internal/apis/apistest"
)

// Scopes an API key can carry.
const (
	ScopeTargetGroups = "validate:target-groups"
	ScopeOffers       = "validate:offers"
)

// DefaultAPIKey is the seeded key; it carries both scopes.
const DefaultAPIKey = "ck_live_0123456789abcdef0123456789abcdef01234567"

// Seeded target groups and offer.
const (
	TargetGroupUni  = "tg_uni"  // domains uni.example, student.example
	TargetGroupCorp = "tg_corp" // domain corp.example
	OfferStudent    = "of_student_discount"
)

// DefaultRateLimit is the real hourly default: 1,000 requests per hour per
// key, in fixed windows, with X-RateLimit-* headers on every answer. It is
// the only limit a NewServer enforces unless WithLimits or WithRealLimits
// adds the per-minute endpoint-class limits.
var DefaultRateLimit = apistest.RateLimit{Limit: 1000, Window: time.Hour, Headers: true}

// Server is a running fake. URL is its base URL (http://127.0.0.1:port).
type Server struct {
	apistest.Server // URL, Handler, Close, Requests, Count, SetFaults, FaultsInjected

	lim    apistest.Limiter // the hourly budget, per key
	cls    classLimiter     // the per-minute limits, per key and endpoint class
	hourly time.Duration    // the hourly budget's window, for X-RateLimit-Window
	now    func() time.Time
	reqSeq atomic.Uint64

	mu        sync.Mutex
	keys      map[string]map[string]bool // key → scopes
	keyOrder  []string
	groups    map[string]TargetGroup
	groupIDs  []string
	offers    map[string]Offer
	offerIDs  []string
	validated int
}

// Option configures a Server in NewServer.
type Option func(*Server)

// WithAPIKey adds (or replaces) a key with exactly the given scopes; none
// means a key that authenticates but may call nothing.
func WithAPIKey(key string, scopes ...string) Option {
	return func(s *Server) { s.addKey(key, scopes) }
}

// WithTargetGroup adds or replaces a target group.
func WithTargetGroup(tg TargetGroup) Option {
	return func(s *Server) { s.putGroup(tg) }
}

// WithOffer adds or replaces an offer.
func WithOffer(o Offer) Option {
	return func(s *Server) { s.putOffer(o) }
}

// WithRateLimit replaces the hourly budget (DefaultRateLimit); the zero
// RateLimit disables it. The endpoint-class limits are left as they are.
func WithRateLimit(rl apistest.RateLimit) Option {
	return func(s *Server) { s.SetRateLimit(rl) }
}

// WithClock sets the clock of the rate limits' windows and buckets (default
// time.Now), so tests choose where a window ends.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.lim.Now, s.now = now, now }
}

// NewServer starts a fake on 127.0.0.1:0 with the seeded state, then applies
// opts. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		keys:   map[string]map[string]bool{},
		groups: map[string]TargetGroup{},
		offers: map[string]Offer{},
		now:    time.Now,
	}
	s.addKey(DefaultAPIKey, []string{ScopeTargetGroups, ScopeOffers})
	s.putGroup(TargetGroup{ID: TargetGroupUni, Name: "University students", Domains: []string{"uni.example", "student.example"}})
	s.putGroup(TargetGroup{ID: TargetGroupCorp, Name: "Corporate staff", Domains: []string{"corp.example"}})
	s.putOffer(Offer{ID: OfferStudent, Name: "Student discount", TargetGroupIDs: []string{TargetGroupUni}})
	s.SetRateLimit(DefaultRateLimit)
	for _, o := range opts {
		o(s)
	}
	s.Start(s.routes(), nil, apistest.Shapes{
		Failure: func(w http.ResponseWriter, r *http.Request, status int) {
			s.writeError(w, status, "internal_error", http.StatusText(status))
		},
	})
	return s
}

// SetRateLimit replaces the hourly budget and starts fresh windows; the
// zero RateLimit disables it.
func (s *Server) SetRateLimit(rl apistest.RateLimit) {
	s.mu.Lock()
	s.hourly = rl.Window
	s.mu.Unlock()
	s.lim.Set(rl)
}

func (s *Server) hourlyWindow() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hourly
}

// RateLimited returns how many requests were answered 429 (by either limit).
func (s *Server) RateLimited() int { return s.lim.Rejected() + s.cls.rejections() }

// Validated returns how many emails were validated by successful bulk calls.
func (s *Server) Validated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validated
}

func (s *Server) nextRequestID() string {
	return fmt.Sprintf("req_%012x", s.reqSeq.Add(1))
}
