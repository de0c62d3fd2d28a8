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
// Seeded state: the account Username/Password (partner keys DeveloperKey and
// CustomerKey), opt-in processes 122 (default double opt-in, empty name),
// 123 "Newsletter signup" (single opt-in) and 124 "Webinar" (double opt-in),
// tags 17 "customer", 18 "vip", 21 "newsletter", KlickTipp's standard data
// fields plus field12345 "Customer number", and no contacts; the first
// contact gets id 881. Contacts added through a single opt-in process are
// "Subscribed", others "Opt-In Pending". POST /tag with an existing name
// returns the existing id. SMS-only contacts are not modelled.
//
// Through package apistest it records every request and can be told to rate
// limit (with X-RateLimit-* headers, Retry-After and 429s), add latency,
// fail a share of requests with 5xx, hang, reset connections and return
// malformed bodies. A Server is safe for concurrent use.
package klicktipptest
