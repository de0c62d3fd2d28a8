// Package klicktipptest is an in-memory fake of the KlickTipp REST API, in
// the manner of net/http/httptest, for tests and for the worker's sandbox
// mode.
//
// It speaks the real shapes: POST /account/login and /account/logout with a
// session cookie (Cookie: <session_name>=<sessid>, or X-Session-Id), partner
// authentication by X-Un and X-Ci (recomputed from the configured developer
// and customer key), POST /subscriber, /subscriber/tag, /subscriber/search,
// GET and POST /tag, GET /field and GET /list; ids as KlickTipp sends them
// (strings in subscriber objects, numbers in id arrays); 406 {"error": N}
// for refused input and arrays of strings for other errors. Denied requests
// get 403 ["API access denied."] (401 with WithDeniedStatus).
//
// Through package apistest it records every request and can be told to rate
// limit (with X-RateLimit-* headers, Retry-After and 429s), add latency,
// fail a share of requests with 5xx, hang, reset connections and return
// malformed bodies. A Server is safe for concurrent use.
package klicktipptest
