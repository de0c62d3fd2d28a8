// Package klicktipptest is an in-memory fake of the KlickTipp REST API, in
// the manner of net/http/httptest, for tests and for the worker's sandbox
// mode.
//
// # Routes modelled
//
// Exactly these (the documented routes of klicktipp-management.openapi.json
// that the client may touch); bodies as JSON, application/x-www-form-urlencoded
// or multipart/form-data, the encodings the spec lists:
//
//	POST /account/login         {"username","password"} → {"sessid","session_name","account"} + Set-Cookie
//	POST /account/logout        → [true]; no live session → 406 ["Benutzer nicht eingeloggt."]
//	POST /subscriber            {"email","listid"?,"tagid"?,"fields"?} → the subscriber object
//	GET  /subscriber/{id}       → the subscriber object; unknown → 404, empty body
//	PUT  /subscriber/{id}       {"newemail"?,"fields"?} → [true]
//	POST /subscriber/tag        {"email","tagids"} → [true]
//	POST /subscriber/untag      {"email","tagid"} → [true]
//	POST /subscriber/unsubscribe {"email"} → [true]
//	POST /subscriber/search     {"email"} → [id] or 404
//	GET  /tag                   → {"<id>":"<name>"}
//	POST /tag                   {"name"} → [id]
//	GET  /tag/{id}              → {"tagid","name","text"}
//	GET  /field                 → {"<key>":"<label>"}
//	GET  /list                  → {"<id>":"<name>"}
//
// A modelled path asked with another method gets 405, an Allow header and
// the router's text recorded in klicktipp-php-client's TagTest ("No route
// found for \"DELETE …\": Method Not Allowed (Allow: GET, POST)"); any other
// path gets 404 with the router's "No route found for \"GET …\"" (a guess by
// analogy), never the 404 ["There is no such entity."] of a missing
// subscriber.
//
// # From evidence
//
// Session auth (cookie <session_name>=<sessid>, or X-Session-Id, as the
// official Go client sends both), partner auth by X-Un and X-Ci (recomputed
// from the configured keys), ids as KlickTipp sends them (strings in
// subscriber objects, numbers in id arrays), PHP's [] for empty maps, 406
// {"error": N} codes (spec), 406 {"error": 8} with "field", "name",
// "field_value", "reason" (the details the official n8n node reads), 406 for
// a login that carries a live session and for a logout without one, 406
// {"error": 7} and {"error": 9} for untag and unsubscribe of an unknown or
// unsubscribed contact, and the error texts in English (spec) or, with
// WithLanguage(German), in German (klicktipp-php-client's recorded
// answers): denied requests get 403 ["API access denied."] / ["API Zugriff
// verweigert"] (401 with WithDeniedStatus).
//
// # Guesses
//
// Where the evidence is silent the fake decides, and the client tolerates
// other choices: POST /tag with an existing name answers 406 ["Tag could not
// be created."] (the recorded text of a failed create; with
// WithDuplicateTagsReturnExisting the existing id instead, with
// WithDuplicateTagsCreated a second tag of that name); English texts
// for "already logged in", "not logged in", "tag not created" and "contact
// does not exist"; the reason texts of field validation; the status
// "Unsubscribed"; how data fields are validated (numbers, dates as Unix
// seconds, URLs). SMS-only contacts are not modelled.
//
// # Seeded state
//
// The account Username/Password (partner keys DeveloperKey and
// CustomerKey), opt-in processes 122 (default double opt-in, empty name),
// 123 "Newsletter signup" (single opt-in) and 124 "Webinar" (double opt-in),
// tags 17 "customer", 18 "vip", 21 "newsletter", KlickTipp's standard data
// fields plus field12345 "Customer number", and no contacts; the first
// contact gets id 881. Contacts added through a single opt-in process are
// "Subscribed", others "Opt-In Pending".
//
// Partner onboarding: AddCustomerKey accepts more Customer Keys at run time,
// and GrantPage fakes KlickTipp's access-confirmation dialog (it issues a
// fresh key and redirects to the partner's URL with ?customerkey=).
//
// Through package apistest it records every request and can be told to rate
// limit (with X-RateLimit-* headers, Retry-After and 429s; KlickTipp
// documents no limit), add latency, fail a share of requests with 5xx, hang,
// reset connections and return malformed bodies. A Server is safe for
// concurrent use.
package klicktipptest
