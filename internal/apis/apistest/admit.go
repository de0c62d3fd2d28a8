package apistest

import "net/http"

// Admit counts one request for key against the limit, sets the
// X-RateLimit-* headers (and Retry-After on a refusal, when configured) on h,
// and reports whether the request may go on. When it reports false the caller
// writes the API's 429 body.
//
// Middleware calls it before the fake's handler. A fake whose API checks
// credentials before counting (so a bad key gets 401, never 429) passes a nil
// Limiter to Middleware and calls Admit itself once the key is known.
func (l *Limiter) Admit(key string, h http.Header) bool { return l.admit(key, h) }
