// Package apis holds what the three API clients (klicktipp, klipy, clickyid)
// share: the error classes a caller matches with errors.Is, the one typed
// error they all return, the base-URL policy, and the HTTP round trip that
// waits on a rate limiter before each request and reports every response to it.
//
// The clients live in the sub-packages; each maps its API's status codes and
// bodies to an *Error once, so callers never look at status codes or text.
package apis
