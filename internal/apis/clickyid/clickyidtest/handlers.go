package clickyidtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxBulk is the real limit of emails per bulk request.
const maxBulk = 100

// routes returns the API without the shared middleware.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/validate/bulk", s.authed("POST", s.handleBulk))
	mux.HandleFunc("/target-groups", s.authed("GET", s.handleTargetGroups))
	mux.HandleFunc("/offers", s.authed("GET", s.handleOffers))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.URL.Path)
	})
	return mux
}

// authed checks the method, then the key (401), then counts the request
// against the key's rate limit (429), then calls h with the key's scopes.
func (s *Server) authed(method string, h func(http.ResponseWriter, *http.Request, map[string]bool)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
			return
		}
		key, ok := bearer(r)
		if !ok {
			s.writeError(w, http.StatusUnauthorized, "MISSING_API_KEY", "missing API key: send Authorization: Bearer ck_live_…")
			return
		}
		scopes, known := s.scopes(key)
		if !known {
			s.writeError(w, http.StatusUnauthorized, "INVALID_API_KEY", "invalid API key")
			return
		}
		if !s.admit(key, classOf(r.URL.Path), w.Header()) {
			s.writeError(w, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "too many requests, check your rate limits")
			return
		}
		h(w, r, scopes)
	}
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimSpace(key)
	return key, key != ""
}

func (s *Server) forbidden(w http.ResponseWriter, scope string) {
	s.writeError(w, http.StatusForbidden, "INSUFFICIENT_SCOPE", "API key lacks scope "+scope)
}

func (s *Server) handleTargetGroups(w http.ResponseWriter, r *http.Request, scopes map[string]bool) {
	if !scopes[ScopeTargetGroups] {
		s.forbidden(w, ScopeTargetGroups)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"targetGroups": s.TargetGroups(), "requestId": s.nextRequestID()})
}

func (s *Server) handleOffers(w http.ResponseWriter, r *http.Request, scopes map[string]bool) {
	if !scopes[ScopeOffers] {
		s.forbidden(w, ScopeOffers)
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"offers": s.Offers(), "requestId": s.nextRequestID()})
}

type bulkRequest struct {
	Emails         []string `json:"emails"`
	TargetGroupIDs []string `json:"targetGroupIds"`
	OfferIDs       []string `json:"offerIds"`
	Mode           string   `json:"mode"`
}

func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request, scopes map[string]bool) {
	var req bulkRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", te.Field+" has the wrong type")
			return
		}
		s.writeError(w, http.StatusBadRequest, "MALFORMED_JSON", "request body is not valid JSON: "+err.Error())
		return
	}
	switch {
	case len(req.Emails) == 0:
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "emails is required")
		return
	case len(req.Emails) > maxBulk:
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("at most %d emails per request, got %d", maxBulk, len(req.Emails)))
		return
	case len(req.TargetGroupIDs) == 0 && len(req.OfferIDs) == 0:
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "targetGroupIds or offerIds is required")
		return
	}
	mode := req.Mode
	if mode == "" {
		mode = "any"
	}
	if mode != "any" && mode != "all" {
		s.writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", `mode must be "any" or "all"`)
		return
	}
	if len(req.TargetGroupIDs) > 0 && !scopes[ScopeTargetGroups] {
		s.forbidden(w, ScopeTargetGroups)
		return
	}
	if len(req.OfferIDs) > 0 && !scopes[ScopeOffers] {
		s.forbidden(w, ScopeOffers)
		return
	}
	units, err := s.resolve(req.TargetGroupIDs, req.OfferIDs)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, err.code, err.msg)
		return
	}
	results := make([]result, len(req.Emails))
	for i, e := range req.Emails {
		results[i] = validate(e, mode, units)
	}
	s.mu.Lock()
	s.validated += len(req.Emails)
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, map[string]any{"results": results, "requestId": s.nextRequestID()})
}

type apiErr struct{ code, msg string }

// resolve turns the requested ids into units to match, in request order.
func (s *Server) resolve(tgIDs, offerIDs []string) ([]unit, *apiErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var units []unit
	for _, id := range tgIDs {
		g, ok := s.groups[id]
		if !ok {
			return nil, &apiErr{"invalid_target_group", fmt.Sprintf("target group %q not found", id)}
		}
		units = append(units, unit{targetGroupID: id, groups: []TargetGroup{g}})
	}
	for _, id := range offerIDs {
		o, ok := s.offers[id]
		if !ok {
			return nil, &apiErr{"invalid_offer", fmt.Sprintf("offer %q not found", id)}
		}
		u := unit{offerID: id}
		for _, gid := range o.TargetGroupIDs {
			if g, ok := s.groups[gid]; ok {
				u.groups = append(u.groups, g)
			}
		}
		units = append(units, u)
	}
	return units, nil
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, msg string) {
	s.writeJSON(w, status, map[string]string{"error": code, "message": msg, "requestId": s.nextRequestID()})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
