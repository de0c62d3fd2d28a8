package onboarding

import (
	"net/url"
	"strings"
)

// DefaultAppURL is KlickTipp's web app, where the grant dialog lives.
const DefaultAppURL = "https://app.klicktipp.com"

// CallbackPrefix is the path the callback serves; the token follows it.
const CallbackPrefix = "/klicktipp/grant/"

// Link is where an invite sends the customer:
// <appURL>/grantapiaccess/<partnerID>?url=<publicURL>/klicktipp/grant/<token>,
// the redirect URL query-escaped and carrying no query of its own.
func Link(appURL, partnerID, publicURL, token string) string {
	if appURL == "" {
		appURL = DefaultAppURL
	}
	return strings.TrimRight(appURL, "/") + "/grantapiaccess/" + url.PathEscape(partnerID) +
		"?url=" + url.QueryEscape(RedirectURL(publicURL, token))
}

// RedirectURL is the callback URL of token under publicURL.
func RedirectURL(publicURL, token string) string {
	return strings.TrimRight(publicURL, "/") + CallbackPrefix + token
}
