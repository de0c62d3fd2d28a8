// Package clickyid is a client for the ClickyID API: bulk validation of email
// addresses against target groups or offers (POST /validate/bulk, at most
// MaxBulk emails per call), and the team's target groups and offers.
//
// ClickyID matches an email's domain, subdomains kept, against the domains of
// a target group; it does not check mailboxes. Keys look like
// ck_live_<40 hex> and carry scopes (validate:target-groups,
// validate:offers); the default limit is 1,000 requests per hour per key.
//
// Every error a Client returns for an API answer, a network failure or an
// undecodable body is an *APIError (= *apis.Error) that matches one of the
// apis.Err* classes with errors.Is. No error message contains the API key.
//
// The fake server in clickyidtest speaks the same protocol for tests and
// sandbox mode.
package clickyid
