// Package apistest holds what the three fake API servers (klicktipptest,
// klipytest, clickyidtest) share: a request recorder, fault injection (latency,
// 5xx, hangs, connection resets, malformed bodies) and a fixed-window rate
// limit that answers with the real headers and 429s.
//
// A fake composes them around its own handler with Middleware. Everything here
// is safe for concurrent use and can be reconfigured while serving.
package apistest
