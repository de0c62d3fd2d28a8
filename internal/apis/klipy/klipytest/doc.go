// Package klipytest is an in-memory fake of the Klipy CRM API, in the manner
// of net/http/httptest: NewServer starts it on 127.0.0.1 with one seeded key
// (DefaultAPIKey, team DefaultTeam "Sandbox Team", organisation
// DefaultOrganisation), and URL is what a klipy.Config takes as BaseURL. The
// fake serves the API at its root, where the real API serves it under
// /api/v1.
//
// # Routes modelled
//
// Exactly these; any other path is a 404 "not_found", a wrong method a 405
// "method_not_allowed" with Allow:
//
//	GET /authenticate  → {"object":"success","data":{"organization_name":…},"meta":{"request_id"}}
//	PUT /people        {"email", "firstName"?, "lastName"?, "title"?, "phone"?, …} → 201 new / 200 updated
//
// # From evidence (klipy.ai/docs, the older support guide)
//
// The key in X-Klipy-Api-Key (header names are case-insensitive) or
// Authorization: Bearer, checked exactly; keys are klipy_api_… (older ones
// klipy_pk_…; any string is accepted); a missing or unknown key is a 401, a
// key without the scope people:write (ReadOnly) gets 403 on PUT /people;
// success answers {"object":"success","data":{…},"meta":{"request_id"}};
// errors carry a code, a message and optional details; rate limits of 200
// requests per minute per key and 1,000 per minute per organisation, shared
// by every key of one organisation (keys name their Organisation), with
// X-RateLimit-Limit, -Remaining, -Reset and, on 429, Retry-After. With
// WithLegacyAuthenticate, GET /authenticate answers the old guide's bare
// {"team_name"}.
//
// # Guesses
//
// The key under which /authenticate names the organisation
// (organization_name; the client reads several); error bodies
// {"object":"error","error":{"code","message","details"?},"meta":{"request_id"}};
// the codes invalid_json (400, a body that is not a JSON object),
// invalid_email (422, details {"field":"email"}), invalid_field (422,
// firstName, lastName, title or phone neither a string nor null),
// insufficient_scope (403, details {"required_scope":"people:write"});
// fixed windows for the rate limits, the headers of the tighter of the two
// limits, and a request refused by the organisation's limit still counting
// against its key's. PUT /people upserts by email, matched
// case-insensitively after trimming spaces: a new person gets an id
// ("per_000001", …), created_at and updated_at and the answer is 201; an
// existing one has the given keys merged into it (email, id and created_at
// kept) and the answer is 200; other keys are stored as sent (JSON numbers
// keep their text). People are kept per team.
//
// Rate limits are off by default. WithRealRateLimits (or WithRateLimits,
// SetRateLimit and SetOrgRateLimit, for small fast windows) enforces them.
// Credentials are checked before the limits, so a bad key always gets 401
// and is never counted.
//
// Faults (latency, 5xx, hangs, resets, malformed bodies) come from apistest
// via SetFaults. A Server is safe for concurrent use.
package klipytest
