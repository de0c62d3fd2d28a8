package jobs

import (
	"strconv"
	"unicode/utf8"
)

// Bounds of the strings one item keeps in results and checkpoints. Item
// strings come from jobs (emails) and from the APIs (errors, reasons, ids);
// clipped, every item fits in a few KB of JSON whatever it held, so a
// result or checkpoint is never too large for the server because of one
// item.
const (
	maxItemEmail = 320 // a valid address has at most 254
	maxItemError = 500
	maxItemText  = 200 // reason, matchedDomain, targetGroup, subscriberId, personId
)

// clip cuts s to at most n bytes on a rune boundary and marks the cut with
// the length s had: "<first n bytes>… (clipped from 204800 bytes)".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (clipped from " + strconv.Itoa(len(s)) + " bytes)"
}

// bounded returns it with every string clipped to its bound.
func (it ItemResult) bounded() ItemResult {
	it.Email = clip(it.Email, maxItemEmail)
	it.Error = clip(it.Error, maxItemError)
	it.SubscriberID = clip(it.SubscriberID, maxItemText)
	it.PersonID = clip(it.PersonID, maxItemText)
	it.Reason = clip(it.Reason, maxItemText)
	it.MatchedDomain = clip(it.MatchedDomain, maxItemText)
	it.TargetGroup = clip(it.TargetGroup, maxItemText)
	return it
}
