// Package klipytest is an in-memory fake of the Klipy CRM API, in the manner
// of net/http/httptest: NewServer starts it on 127.0.0.1 with one seeded key
// (DefaultAPIKey, team DefaultTeam "Sandbox Team", organisation
// DefaultOrganisation), and URL is what a klipy.Config takes as BaseURL. The
// fake serves the API at its root (GET /authenticate, PUT /people), where the
// real API serves it under /api/v1.
//
// It speaks the real shapes: the key in X-KLIPY-API-KEY (or Authorization:
// Bearer), checked exactly (a missing or unknown key is a 401); success
// answers {"object":"success","data":{…},"meta":{"request_id":"req_…"}}; error
// answers {"object":"error","error":{"code","message"},"meta":{"request_id"}}.
//
// PUT /people upserts by email, matched case-insensitively after trimming
// spaces. A new person gets an id ("per_000001", …), created_at and
// updated_at, and the answer is 201 with the stored person as data; an existing
// one has the given keys merged into it (email, id and created_at are kept)
// and the answer is 200. Every other key is stored as sent (JSON numbers keep
// their text, as json.Number). Rules the public docs leave open are decided
// here as follows: a body that is not a JSON object is a 400 with code
// "invalid_json"; a missing or malformed email is a 422 with code
// "invalid_email"; firstName, lastName, title or phone that is neither a
// string nor null is a 422 with code "invalid_field"; a key added as ReadOnly
// may authenticate but gets 403 "forbidden" on PUT /people; unknown paths are
// 404 "not_found" and wrong methods 405 "method_not_allowed". People are kept
// per team.
//
// Rate limits are off by default. WithRealRateLimits (or SetRateLimit and
// SetOrgRateLimit) enforces fixed windows per key (200/min) and per
// organisation (1,000/min): every answer to a known key then carries
// X-RateLimit-Limit, -Remaining and -Reset (Unix seconds) of the tighter of
// the two, and a request over either limit gets 429 "rate_limit_exceeded"
// with Retry-After. Credentials are checked before the limits, so a bad key
// always gets 401 and is never counted; a request refused by the
// organisation's limit has still used one of its key's requests.
//
// Faults (latency, 5xx, hangs, resets, malformed bodies) come from apistest
// via SetFaults. A Server is safe for concurrent use.
package klipytest
