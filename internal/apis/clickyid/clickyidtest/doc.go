// Package clickyidtest is an in-memory fake of the ClickyID API, in the manner
// of net/http/httptest: NewServer starts it on 127.0.0.1 with a seeded team
// (see DefaultAPIKey, TargetGroupUni, TargetGroupCorp, OfferStudent), and
// URL is what a clickyid.Config takes as BaseURL. The fake serves the API at
// its root, where the real one serves it under /api/v1.
//
// # Routes modelled
//
// Exactly these; any other path is a 404, a wrong method a 405 with Allow:
//
//	POST /validate/bulk  {"emails":[≤100],"targetGroupIds"?,"offerIds"?,"mode":"any"|"all"}
//	GET  /target-groups
//	GET  /offers
//
// # From evidence (clickyid.com/docs)
//
// Authorization: Bearer ck_live_… keys with scopes (validate:target-groups,
// validate:offers; a missing scope is a 403), 400/401/403/429 answers, at
// most 100 emails per bulk call, modes "any" and "all", per-email isValid,
// targetGroup as an object, matchedDomain, validationDetails and reason,
// matching by the email's domain with subdomains kept (x@cs.uni.example
// matches uni.example), no mailbox check. Rate limits per key: the hourly
// budget (1,000 requests per hour by default, DefaultRateLimit, a fixed
// window as "rate limits reset every hour" says) and, with WithLimits or
// WithRealLimits, the per-minute limits per endpoint class of the
// rate-limiting guide (RealLimits: single validation 100/min burst 200, bulk
// 10/min burst 20, target groups 50/min burst 100, offers 30/min burst 60).
// Every answer to a known key carries X-RateLimit-Limit, -Remaining, -Reset
// (Unix seconds) and -Window (seconds) of the limit that refused it, or of
// the tighter one. Credentials are checked before the limits, so a bad key
// always gets 401. Limits.Scaled shrinks the windows for tests. Error codes
// are the documented ones where one fits (MISSING_API_KEY, INVALID_API_KEY,
// INSUFFICIENT_SCOPE, RATE_LIMIT_EXCEEDED, MALFORMED_JSON,
// VALIDATION_ERROR, from the target-group validation reference).
//
// # Guesses
//
// Rules the public docs leave open are decided here as follows, and the
// client tolerates other choices: the bulk response is
// {"results":[…],"requestId"}; the targetGroup object is {"id","name"};
// each endpoint class is a token bucket (Burst tokens, refilled Limit per
// window) and a request refused by its class does not use the hourly
// budget; a refused request gets Retry-After; a request naming neither
// targetGroupIds nor offerIds is a 400; lists answer {"targetGroups":[…]}
// and {"offers":[…]}; error bodies are {"error":"<code>","message":"…",
// "requestId":"req_…"}; the codes invalid_target_group and invalid_offer
// (400) for an id the team does not have; the reasons domain_matched,
// domain_not_in_target_group and invalid_format, and the members of
// validationDetails.
//
// Faults (latency, 5xx, hangs, resets, malformed bodies) come from
// apistest via SetFaults. A Server is safe for concurrent use.
package clickyidtest
