// Package klicktipp is a client for the KlickTipp REST API
// (https://api.klicktipp.com): contact upserts with fields, tags and opt-in
// processes, tag and field lookups.
//
// Two kinds of credentials are supported. In session mode (username and
// password) Client.Login opens a session with POST /account/login and
// Session.Logout closes it; on any 401 or 403 (an expired session, worded in
// English or German) the session is logged in again once and the request
// retried, and a logout of a session already closed (406 "Benutzer nicht
// eingeloggt.") counts as done. In partner mode (developer key and customer
// key) there is no login: every request is signed with X-Un and X-Ci, and
// Login only returns a Session that does so.
//
// Every error for a non-2xx answer or an undecodable body is an *APIError
// (an alias of *apis.Error) that matches one of the apis.Err* classes with
// errors.Is. Error messages never contain a password, key or session id
// (they are redacted before the API's text is cut to length), and name the
// failing field when KlickTipp says which one. Redirects are never followed.
//
// The fake server in package klicktipptest speaks the same protocol.
package klicktipp
