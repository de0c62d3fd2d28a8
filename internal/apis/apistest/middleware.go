package apistest

import (
	"net/http"
	"time"
)

// Shapes tells Middleware how to write the API's own bodies.
type Shapes struct {
	// Key returns the credential a request is limited by ("" if none).
	Key func(*http.Request) string
	// TooMany writes the API's 429 body (headers are already set).
	TooMany func(http.ResponseWriter, *http.Request)
	// Failure writes the API's error body for an injected 5xx.
	Failure func(w http.ResponseWriter, r *http.Request, status int)
	// Malformed is the body of an injected malformed answer; default `{"trunc`.
	Malformed string
}

// Middleware records every request in rec, then applies the injected faults
// and the rate limit before handing the request to next. Any of rec, in, lim
// may be nil.
func Middleware(next http.Handler, rec *Recorder, in *Injector, lim *Limiter, s Shapes) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idx := -1
		if rec != nil {
			body := readBody(r)
			idx = rec.add(Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if rec != nil {
				rec.setStatus(idx, sw.status)
			}
		}()
		kind, f := "", Faults{}
		if in != nil {
			kind, f = in.draw()
		}
		if f.Latency > 0 {
			t := time.NewTimer(f.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch kind {
		case "reset":
			if resetConn(w) {
				return
			}
			kind = "fail"
		case "hang":
			select {
			case <-r.Context().Done():
			case <-in.stopped():
			}
			return
		}
		if lim != nil {
			key := ""
			if s.Key != nil {
				key = s.Key(r)
			}
			if !lim.admit(key, w.Header()) {
				if s.TooMany != nil {
					s.TooMany(sw, r)
				} else {
					http.Error(sw, "too many requests", http.StatusTooManyRequests)
				}
				return
			}
		}
		switch kind {
		case "fail":
			status := f.FailStatus
			if status == 0 {
				status = http.StatusServiceUnavailable
			}
			if s.Failure != nil {
				s.Failure(sw, r, status)
			} else {
				http.Error(sw, http.StatusText(status), status)
			}
			return
		case "malformed":
			body := s.Malformed
			if body == "" {
				body = `{"trunc`
			}
			sw.Header().Set("Content-Type", "application/json")
			sw.WriteHeader(http.StatusOK)
			_, _ = sw.Write([]byte(body))
			return
		}
		next.ServeHTTP(sw, r)
	})
}
