package klicktipptest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
)

// customers are the Customer Keys added after NewServer (partner
// onboarding), each valid with the server's developer key.
type customers struct {
	mu   sync.Mutex
	keys map[string]string // X-Ci → username ("" accepts any X-Un)
	n    int
}

// AddCustomerKey makes partner requests signed with customerKey (and the
// server's developer key) valid from now on, for X-Un username, or for any
// X-Un when username is "". The seeded pair stays valid.
func (s *Server) AddCustomerKey(username, customerKey string) {
	ci := xci(s.devKey, customerKey)
	if ci == "" {
		return
	}
	s.cust.mu.Lock()
	defer s.cust.mu.Unlock()
	if s.cust.keys == nil {
		s.cust.keys = map[string]string{}
	}
	s.cust.keys[ci] = strings.ToLower(strings.TrimSpace(username))
}

// RemoveCustomerKey makes customerKey invalid again (the customer revoked
// access in KlickTipp).
func (s *Server) RemoveCustomerKey(customerKey string) {
	ci := xci(s.devKey, customerKey)
	s.cust.mu.Lock()
	delete(s.cust.keys, ci)
	s.cust.mu.Unlock()
}

// CustomerKeysIssued counts the keys the grant page handed out.
func (s *Server) CustomerKeysIssued() int {
	s.cust.mu.Lock()
	defer s.cust.mu.Unlock()
	return s.cust.n
}

// customerOK reports whether X-Un un and X-Ci ci match an added key.
func (s *Server) customerOK(un, ci string) bool {
	s.cust.mu.Lock()
	defer s.cust.mu.Unlock()
	for k, user := range s.cust.keys {
		if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(ci)), []byte(k)) == 1 {
			return user == "" || strings.EqualFold(strings.TrimSpace(un), user)
		}
	}
	return false
}

// GrantPage is a fake of KlickTipp's access-confirmation dialog,
// GET .../grantapiaccess/<partner account id>?url=<redirect>, as if the
// customer had logged in and confirmed at once: it issues a fresh random
// Customer Key, accepted from then on with any X-Un, and redirects (302)
// to <redirect>?customerkey=<key>, appending as KlickTipp does. A missing
// or non-http(s) url, or no account id, is a 400. It can be mounted under
// any prefix (the worker's sandbox serves it at
// /sandbox/klicktipp/grantapiaccess/).
func (s *Server) GrantPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if id := path.Base(r.URL.Path); id == "" || id == "/" || id == "." || id == "grantapiaccess" {
			http.Error(w, "no partner account id in the path", http.StatusBadRequest)
			return
		}
		redirect := r.URL.Query().Get("url")
		u, err := url.Parse(redirect)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			http.Error(w, "url must be an absolute http(s) URL", http.StatusBadRequest)
			return
		}
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		key := "sbx" + hex.EncodeToString(b)
		s.AddCustomerKey("", key)
		s.cust.mu.Lock()
		s.cust.n++
		s.cust.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, redirect+"?customerkey="+url.QueryEscape(key), http.StatusFound)
	})
}
