package klipytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// routes returns the API without the shared middleware.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/authenticate", s.authed(http.MethodGet, false, s.handleAuthenticate))
	mux.HandleFunc("/people", s.authed(http.MethodPut, true, s.handleUpsert))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// authed checks the method (405), then the key (401), then counts the
// request against the key's and the organisation's limits (429), then, for a
// write, that the key may write (403), then calls h.
func (s *Server) authed(method string, write bool, h func(http.ResponseWriter, *http.Request, APIKey)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		key, ok := apiKey(r)
		if !ok {
			s.writeError(w, http.StatusUnauthorized, "unauthorized", "missing API key: send X-KLIPY-API-KEY")
			return
		}
		k, known := s.lookup(key)
		if !known {
			s.writeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key")
			return
		}
		if !s.admit(k, w.Header()) {
			s.writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "too many requests, retry after the rate limit resets")
			return
		}
		if write && k.ReadOnly {
			s.writeErrorDetails(w, http.StatusForbidden, CodeInsufficientScope, "this API key lacks the scope people:write", map[string]any{"required_scope": "people:write"})
			return
		}
		h(w, r, k)
	}
}

// apiKey returns the key from X-KLIPY-API-KEY, else from Authorization:
// Bearer. It is compared exactly: no trimming beyond what HTTP does.
func apiKey(r *http.Request) (string, bool) {
	if vs, ok := r.Header[http.CanonicalHeaderKey("X-KLIPY-API-KEY")]; ok && len(vs) > 0 {
		return vs[0], vs[0] != ""
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	return key, true
}

func (s *Server) handleAuthenticate(w http.ResponseWriter, r *http.Request, k APIKey) {
	if s.legacyAuth {
		// The old guide's answer: a bare object.
		s.writeJSON(w, http.StatusOK, map[string]any{"team_name": k.Team})
		return
	}
	s.writeSuccess(w, http.StatusOK, map[string]any{"organization_name": k.Team})
}

// emailPattern is what the fake accepts as an email: one @, a non-empty local
// part, a domain with a dot, no spaces; at most 254 characters.
var emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$`)

// stringFields must be strings (or null) when present.
var stringFields = []string{"firstName", "lastName", "title", "phone"}

func (s *Server) handleUpsert(w http.ResponseWriter, r *http.Request, k APIKey) {
	var in map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil || in == nil || dec.More() {
		s.writeError(w, http.StatusBadRequest, "invalid_json", "request body must be a JSON object")
		return
	}
	raw, present := in["email"]
	email, isString := raw.(string)
	email = strings.TrimSpace(email)
	switch {
	case !present || raw == nil || (isString && email == ""):
		s.writeErrorDetails(w, http.StatusUnprocessableEntity, "invalid_email", "email is required", map[string]any{"field": "email"})
		return
	case !isString || len(email) > 254 || !emailPattern.MatchString(email):
		s.writeErrorDetails(w, http.StatusUnprocessableEntity, "invalid_email", "email is not a valid email address", map[string]any{"field": "email"})
		return
	}
	for _, f := range stringFields {
		if v, ok := in[f]; ok && v != nil {
			if _, ok := v.(string); !ok {
				s.writeErrorDetails(w, http.StatusUnprocessableEntity, "invalid_field", f+" must be a string", map[string]any{"field": f})
				return
			}
		}
	}
	p, created := s.upsertPerson(k.Team, in)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.writeSuccess(w, status, p)
}

func (s *Server) writeSuccess(w http.ResponseWriter, status int, data any) {
	s.writeJSON(w, status, map[string]any{
		"object": "success",
		"data":   data,
		"meta":   map[string]any{"request_id": s.nextRequestID()},
	})
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, msg string) {
	s.writeErrorDetails(w, status, code, msg, nil)
}

// writeErrorDetails writes the error envelope; details, when not nil, is
// the optional "details" the docs mention (inside "error": a guess).
func (s *Server) writeErrorDetails(w http.ResponseWriter, status int, code, msg string, details any) {
	e := map[string]any{"code": code, "message": msg}
	if details != nil {
		e["details"] = details
	}
	s.writeJSON(w, status, map[string]any{
		"object": "error",
		"error":  e,
		"meta":   map[string]any{"request_id": s.nextRequestID()},
	})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"object":"error","error":{"code":"internal_error","message":"encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
