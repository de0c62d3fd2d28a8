// Package clickyidtest is an in-memory fake of the ClickyID API, in the manner
// of net/http/httptest: NewServer starts it on 127.0.0.1 with a seeded team
// (see DefaultAPIKey, TargetGroupUni, TargetGroupCorp, OfferStudent), and
// URL is what a clickyid.Config takes as BaseURL. The fake serves the API at
// its root (/validate/bulk, /target-groups, /offers).
//
// It speaks the real shapes: Authorization: Bearer ck_live_… keys with
// scopes (validate:target-groups, validate:offers), 400/401/403/429 answers
// whose JSON bodies carry a requestId, and a fixed-window rate limit of 1,000
// requests per hour per key with X-RateLimit-Limit, -Remaining and -Reset (Unix
// seconds) on every answer to a known key. Credentials are checked before the
// rate limit, so a bad key always gets 401.
//
// Validation matches an email's domain, subdomains kept
// (x@cs.uni.example matches uni.example), against the domains of the requested
// target groups and of the target groups of the requested offers. With mode
// "any" an email is valid when it matches one of them; with "all", when it
// matches every requested target group and every requested offer (an offer
// matches when one of its target groups does). Mailboxes are not checked.
//
// Rules the public docs leave open are decided here as follows, and the
// client tolerates other choices: the bulk response is
// {"results":[…],"requestId"}; a request naming neither targetGroupIds nor
// offerIds is a 400; target groups in results are given by id; lists answer
// {"targetGroups":[…]} and {"offers":[…]}; error bodies are
// {"error":"<code>","message":"…","requestId":"req_…"}.
//
// Faults (latency, 5xx, hangs, resets, malformed bodies) come from
// apistest via SetFaults. A Server is safe for concurrent use.
package clickyidtest
