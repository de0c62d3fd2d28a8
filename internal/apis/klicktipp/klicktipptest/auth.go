package klicktipptest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

// xci computes the X-Ci the fake expects; "" when the keys are unusable
// (then no partner request is accepted). It is written independently of the
// client's so each checks the other.
func xci(developerKey, customerKey string) string {
	key, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(developerKey)))
	ck := strings.TrimSpace(customerKey)
	if err != nil || len(key) == 0 || ck == "" {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ck))
	return base64.StdEncoding.EncodeToString(append(mac.Sum(nil), ck...))
}

// sessionIDOf returns the session id a request carries: the session cookie,
// else X-Session-Id.
func sessionIDOf(r *http.Request) string {
	if c, err := r.Cookie(SessionName); err == nil && c.Value != "" {
		return c.Value
	}
	return strings.TrimSpace(r.Header.Get("X-Session-Id"))
}

// principal is who sent an authenticated request.
type principal struct {
	partner bool
	session string // session id (session mode)
}

// authenticate checks a request's credentials as KlickTipp does: partner
// headers when X-Un or X-Ci is present, else the session. It refreshes the
// session's idle time.
func (s *Server) authenticate(r *http.Request) (principal, bool) {
	un, ci := r.Header.Get("X-Un"), r.Header.Get("X-Ci")
	if un != "" || ci != "" {
		ok := s.xci != "" && strings.EqualFold(strings.TrimSpace(un), s.username) &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(ci)), []byte(s.xci)) == 1 ||
			s.customerOK(un, ci)
		return principal{partner: true}, ok
	}
	id := sessionIDOf(r)
	if id == "" {
		return principal{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireIdleLocked()
	ss, ok := s.sessions[id]
	if !ok {
		return principal{}, false
	}
	ss.lastUsed = s.now()
	return principal{session: id}, true
}

// authed wraps h so that unauthenticated requests get "API access denied.".
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(r)
		if !ok {
			writeJSON(w, s.deniedStatus, []string{s.text().denied})
			return
		}
		h(w, r, p)
	}
}
