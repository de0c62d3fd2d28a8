package clickyidtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// TargetGroup is a team's target group: the email domains it accepts.
type TargetGroup struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
}

// Offer is a team's offer; an email qualifies through its target groups.
type Offer struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	TargetGroupIDs []string `json:"targetGroupIds"`
}

// AddAPIKey adds (or replaces) a key with exactly the given scopes.
func (s *Server) AddAPIKey(key string, scopes ...string) { s.addKey(key, scopes) }

// RemoveAPIKey revokes a key; later requests with it get 401.
func (s *Server) RemoveAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
	s.keyOrder = slices.DeleteFunc(s.keyOrder, func(k string) bool { return k == key })
}

// PutTargetGroup adds or replaces a target group. Domains are lower-cased.
func (s *Server) PutTargetGroup(tg TargetGroup) { s.putGroup(tg) }

// PutOffer adds or replaces an offer.
func (s *Server) PutOffer(o Offer) { s.putOffer(o) }

// TargetGroups returns the target groups in the order they were added.
func (s *Server) TargetGroups() []TargetGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TargetGroup, 0, len(s.groupIDs))
	for _, id := range s.groupIDs {
		g := s.groups[id]
		g.Domains = slices.Clone(g.Domains)
		out = append(out, g)
	}
	return out
}

// Offers returns the offers in the order they were added.
func (s *Server) Offers() []Offer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Offer, 0, len(s.offerIDs))
	for _, id := range s.offerIDs {
		o := s.offers[id]
		o.TargetGroupIDs = slices.Clone(o.TargetGroupIDs)
		out = append(out, o)
	}
	return out
}

func (s *Server) addKey(key string, scopes []string) {
	set := map[string]bool{}
	for _, sc := range scopes {
		set[sc] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; !ok {
		s.keyOrder = append(s.keyOrder, key)
	}
	s.keys[key] = set
}

func (s *Server) putGroup(tg TargetGroup) {
	tg.Domains = slices.Clone(tg.Domains)
	for i, d := range tg.Domains {
		tg.Domains[i] = strings.ToLower(strings.TrimSpace(d))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groups[tg.ID]; !ok {
		s.groupIDs = append(s.groupIDs, tg.ID)
	}
	s.groups[tg.ID] = tg
}

func (s *Server) putOffer(o Offer) {
	o.TargetGroupIDs = slices.Clone(o.TargetGroupIDs)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.offers[o.ID]; !ok {
		s.offerIDs = append(s.offerIDs, o.ID)
	}
	s.offers[o.ID] = o
}

// scopes returns the key's scopes and whether the key is known.
func (s *Server) scopes(key string) (map[string]bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.keys[key]
	return sc, ok
}

// State is the JSON snapshot StateHandler serves. Keys are redacted.
type State struct {
	APIKeys        []KeyState     `json:"apiKeys"`
	TargetGroups   []TargetGroup  `json:"targetGroups"`
	Offers         []Offer        `json:"offers"`
	Requests       int            `json:"requests"`
	Validated      int            `json:"validated"`
	RateLimited    int            `json:"rateLimited"`
	FaultsInjected map[string]int `json:"faultsInjected"`
}

// KeyState is one API key in a State, its secret part redacted.
type KeyState struct {
	Key    string   `json:"key"`
	Scopes []string `json:"scopes"`
}

// Snapshot returns the fake's current state.
func (s *Server) Snapshot() State {
	st := State{
		TargetGroups:   s.TargetGroups(),
		Offers:         s.Offers(),
		Requests:       s.Count("", ""),
		RateLimited:    s.lim.Rejected(),
		FaultsInjected: s.FaultsInjected(),
	}
	s.mu.Lock()
	st.Validated = s.validated
	for _, k := range s.keyOrder {
		ks := KeyState{Key: redact(k), Scopes: []string{}}
		for sc := range s.keys[k] {
			ks.Scopes = append(ks.Scopes, sc)
		}
		slices.Sort(ks.Scopes)
		st.APIKeys = append(st.APIKeys, ks)
	}
	s.mu.Unlock()
	return st
}

// StateHandler serves Snapshot as JSON on GET (405 otherwise). It is not
// part of the fake API and does not need a key.
func (s *Server) StateHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Snapshot())
	})
}

// redact keeps a key's prefix and last four characters.
func redact(key string) string {
	if len(key) <= 16 {
		return "…"
	}
	return key[:12] + "…" + key[len(key)-4:]
}
