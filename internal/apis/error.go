package apis

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error classes. Every error returned by an API client matches at most one of
// them with errors.Is; the job runner decides ack, retry or dead letter from
// the class alone.
var (
	// ErrRateLimited: the API (a 429, Retry-After, or X-RateLimit-Remaining: 0)
	// or the local limiter says to wait. RetryAfter(err) tells how long, if known.
	ErrRateLimited = errors.New("rate limited")
	// ErrUnauthorized: bad or expired credentials (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the credentials lack a permission or scope (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the thing asked for does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrValidation: the API refused the input for good (400, 406, 409, 422).
	// Retrying the same input cannot succeed.
	ErrValidation = errors.New("validation failed")
	// ErrTransient: network errors, timeouts, 5xx and undecodable bodies.
	// Retrying later may succeed.
	ErrTransient = errors.New("transient failure")
)

// Error is the typed error every client returns for a non-2xx answer or a
// body it cannot decode. Its message never contains a credential.
type Error struct {
	API     string // "klicktipp", "klipy" or "clickyid"
	Op      string // what was being done, e.g. "POST /subscriber"
	Status  int    // HTTP status; 0 when no response arrived
	Code    string // the API's own error code, if its body carried one
	Message string // the API's message, trimmed to a sane length
	// Wait is how long the API said to wait (Retry-After or X-RateLimit-Reset),
	// zero when it said nothing.
	Wait time.Duration
	// Class is the error class (one of the Err* sentinels). When nil it is
	// derived from Status by ClassOf.
	Class error
	// Err is the underlying cause (a network or decoding error), if any.
	Err error
}

// Error returns a one-line description: "klicktipp: POST /subscriber: 406 error 5: invalid email".
func (e *Error) Error() string {
	s := e.API + ": " + e.Op + ": "
	if e.Status != 0 {
		s += fmt.Sprintf("%d", e.Status)
		if e.Code != "" {
			s += " error " + e.Code
		}
		if e.Message != "" {
			s += ": " + e.Message
		}
	} else if e.Message != "" {
		s += e.Message
	}
	if e.Err != nil {
		if e.Status != 0 || e.Message != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's class.
func (e *Error) Is(target error) bool {
	c := e.Class
	if c == nil {
		c = ClassOf(e.Status)
	}
	return c != nil && target == c
}

// RetryAfter returns how long the API asked to wait (zero if it did not).
func (e *Error) RetryAfter() time.Duration { return e.Wait }

// ClassOf maps an HTTP status to an error class; nil for 2xx and 3xx.
func ClassOf(status int) error {
	switch {
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestTimeout, status >= 500:
		return ErrTransient
	case status >= 400:
		return ErrValidation
	}
	return nil
}

// RetryAfter reports how long err says to wait: the largest hint found in its
// chain from any error with a RetryAfter() time.Duration method.
func RetryAfter(err error) (time.Duration, bool) {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) && r.RetryAfter() > 0 {
		return r.RetryAfter(), true
	}
	return 0, false
}

// Clip makes text from an API fit an error message: invalid UTF-8 replaced,
// whitespace and control characters folded to single spaces, and at most
// max bytes, cut on a rune boundary with "…" appended. Redact secrets
// before clipping.
func Clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Scalar returns a JSON string or number as text, "" for anything else
// (error bodies carry codes and ids as either).
func Scalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
