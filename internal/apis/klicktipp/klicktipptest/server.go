package klicktipptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"crmsync/internal/apis/apistest"
)

// Server is a running fake KlickTipp API on 127.0.0.1. It is safe for
// concurrent use.
type Server struct {
	apistest.Server // URL, Handler, Close, Requests, Count, SetFaults, FaultsInjected

	lim apistest.Limiter

	// configuration, fixed after NewServer
	username, password string
	devKey, custKey    string
	xci                string
	ttl                time.Duration
	now                func() time.Time
	deniedStatus       int
	lang               Language
	dupTagsExisting    bool
	dupTagsCreated     bool

	cust customers // keys added by partner onboarding

	mu         sync.Mutex
	sessions   map[string]*session
	contacts   map[string]*contact // by normalised email
	tags       map[int64]string
	fields     map[string]field
	lists      map[int64]list
	nextSubID  int64
	nextTagID  int64
	nextListID int64
	logins     int
	logouts    int
	expired    int
	failed     int // failed logins
}

// Option configures a Server.
type Option func(*Server)

// WithCredentials replaces the seeded username and password.
func WithCredentials(username, password string) Option {
	return func(s *Server) { s.username, s.password = username, password }
}

// WithPartnerKeys replaces the seeded developer (hex) and customer key that
// partner requests are verified against.
func WithPartnerKeys(developerKey, customerKey string) Option {
	return func(s *Server) { s.devKey, s.custKey = developerKey, customerKey }
}

// WithSessionTTL makes sessions expire after being idle for d (default:
// never; use ExpireSessions).
func WithSessionTTL(d time.Duration) Option {
	return func(s *Server) { s.ttl = d }
}

// WithClock sets the clock used for session expiry (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithDeniedStatus sets the status of an "API access denied." answer: 403
// (default) or 401.
func WithDeniedStatus(status int) Option {
	return func(s *Server) { s.deniedStatus = status }
}

// WithRateLimit enforces rl per credential (the username, or X-Un).
func WithRateLimit(rl apistest.RateLimit) Option {
	return func(s *Server) { s.lim.Set(rl) }
}

// NewServer starts a fake with the seeded account, fields, lists and tags
// on 127.0.0.1:0. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		username: Username, password: Password,
		devKey: DeveloperKey, custKey: CustomerKey,
		now: time.Now, deniedStatus: http.StatusForbidden,
	}
	for _, o := range opts {
		o(s)
	}
	s.xci = xci(s.devKey, s.custKey)
	s.seed()
	s.Start(s.routes(), &s.lim, apistest.Shapes{
		Key: s.limitKey,
		TooMany: func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusTooManyRequests, []string{"Too many requests."})
		},
		Failure: func(w http.ResponseWriter, _ *http.Request, status int) {
			writeJSON(w, status, []string{http.StatusText(status)})
		},
		Malformed: `{"sessid": "trunc`,
	})
	return s
}

// SetRateLimit enforces rl from now on (the zero value disables it).
func (s *Server) SetRateLimit(rl apistest.RateLimit) { s.lim.Set(rl) }

// RateLimited returns how many requests were answered 429.
func (s *Server) RateLimited() int { return s.lim.Rejected() }

// limitKey is the credential a request counts against: X-Un, the user of
// the session, or the username a login names.
func (s *Server) limitKey(r *http.Request) string {
	if u := r.Header.Get("X-Un"); u != "" {
		return strings.ToLower(u)
	}
	if id := sessionIDOf(r); id != "" {
		s.mu.Lock()
		ss := s.sessions[id]
		s.mu.Unlock()
		if ss != nil {
			return strings.ToLower(ss.user)
		}
	}
	if r.URL.Path == "/account/login" && r.Body != nil {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(b))
		var in struct {
			Username string `json:"username"`
		}
		if json.Unmarshal(b, &in) == nil && in.Username != "" {
			return strings.ToLower(in.Username)
		}
	}
	return ""
}

// State is the JSON snapshot StateHandler serves. It holds no secrets.
type State struct {
	Subscribers  []Subscriber      `json:"subscribers"`
	Tags         map[string]string `json:"tags"`
	Fields       map[string]string `json:"fields"`
	Lists        map[string]string `json:"lists"`
	Logins       int               `json:"logins"`
	Logouts      int               `json:"logouts"`
	OpenSessions int               `json:"openSessions"`
	Expired      int               `json:"expiredSessions"`
	FailedLogins int               `json:"failedLogins"`
	Requests     int               `json:"requests"`
	RateLimited  int               `json:"rateLimited"`
	Faults       map[string]int    `json:"faults"`
}

// Snapshot returns the current state.
func (s *Server) Snapshot() State {
	subs := s.Subscribers()
	s.mu.Lock()
	s.expireIdleLocked()
	st := State{
		Subscribers:  subs,
		Tags:         map[string]string{},
		Fields:       map[string]string{},
		Lists:        map[string]string{},
		Logins:       s.logins,
		Logouts:      s.logouts,
		OpenSessions: len(s.sessions),
		Expired:      s.expired,
		FailedLogins: s.failed,
	}
	for id, n := range s.tags {
		st.Tags[strconv.FormatInt(id, 10)] = n
	}
	for k, f := range s.fields {
		st.Fields[k] = f.label
	}
	for id, l := range s.lists {
		st.Lists[strconv.FormatInt(id, 10)] = l.name
	}
	s.mu.Unlock()
	st.Requests = s.Count("", "")
	st.RateLimited = s.lim.Rejected()
	st.Faults = s.FaultsInjected()
	return st
}

// StateHandler serves GET → the Snapshot as JSON; other methods get 405.
func (s *Server) StateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, http.StatusOK, s.Snapshot())
	})
}

// sortedIDs returns the keys of m ascending.
func sortedIDs[V any](m map[int64]V) []int64 {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
