// Package klipy is a client for the Klipy CRM API: Authenticate checks the key
// and returns the team's name, UpsertPerson creates or updates a person by
// email.
//
// Every request carries the key in the X-KLIPY-API-KEY header and goes
// through one apis.Transport, which waits on the optional apis.Limiter before
// sending and reports each response's status and X-RateLimit-* headers to it.
// Klipy allows 200 requests per minute per key and 1,000 per minute per
// organisation.
//
// Every error is an *APIError (an apis.Error), the context's error, or the
// error of the configured Limiter's Wait (which matches apis.ErrRateLimited);
// match its class with errors.Is: apis.ErrValidation (400, 422: the person was
// refused, Code holds Klipy's error code such as "invalid_email"),
// apis.ErrUnauthorized (401), apis.ErrForbidden (403), apis.ErrNotFound (404),
// apis.ErrRateLimited (429; Wait from Retry-After or X-RateLimit-Reset) and
// apis.ErrTransient (network failures, timeouts, 5xx, undecodable bodies).
// Messages carry Klipy's request_id when it sent one, and never the key.
//
// The fake server in package klipytest speaks the same protocol.
package klipy
