// Package onboarding is KlickTipp partner onboarding: invites (signed,
// single-use, expiring tokens inside the grant link a customer opens) and
// the callback KlickTipp redirects the customer's browser to with their
// Customer Key.
//
// The grant link is
//
//	<KLICKTIPP_APP_URL>/grantapiaccess/<partner account id>?url=<ONBOARDING_PUBLIC_URL>/klicktipp/grant/<token>
//
// The token sits in the path because KlickTipp appends "?customerkey=" to
// the redirect URL. It is HMAC-SHA256-signed with ONBOARDING_SECRET and names
// the account, the KlickTipp username and the expiry.
//
// Callback answers the redirect: it checks the token (signature, expiry,
// not used before), the key's shape (letters, digits, '-' and '_', 16 to 128
// characters: its format is not published), verifies the key with one
// partner-mode call to KlickTipp, stores it (package vault), marks the token
// used, and answers a small HTML page. Refusals are 4xx pages saying why;
// no page, log line or error ever holds the key.
package onboarding
