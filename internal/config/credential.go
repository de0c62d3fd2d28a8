package config

import (
	"encoding/hex"
	"regexp"
	"strings"
)

// clickyIDKey is a live ClickyID key: ck_live_ and 40 hex digits.
var clickyIDKey = regexp.MustCompile(`^ck_live_[0-9a-fA-F]{40}$`)

// checkCredentials checks the default account's credentials as the
// clients would, naming the variable to fix (not a client's Go field).
func (c *Config) checkCredentials() error {
	partner := c.KlickTippDeveloperKey != "" || c.KlickTippCustomerKey != ""
	if c.KlickTippUsername != "" && c.KlickTippPassword == "" && !partner {
		return &Error{Var: "KLICKTIPP_PASSWORD", Reason: "must be set with KLICKTIPP_USERNAME for session auth (or set KLICKTIPP_DEVELOPER_KEY and KLICKTIPP_CUSTOMER_KEY for partner auth)"}
	}
	if dk := strings.TrimSpace(c.KlickTippDeveloperKey); dk != "" {
		if _, err := hex.DecodeString(strings.ToLower(dk)); err != nil {
			return &Error{Var: "KLICKTIPP_DEVELOPER_KEY", Reason: "is not hex digits (a KlickTipp developer key is)"}
		}
	}
	if c.ClickyIDAPIKey != "" && !clickyIDKey.MatchString(c.ClickyIDAPIKey) {
		return &Error{Var: "CLICKYID_API_KEY", Reason: "is malformed: want ck_live_ followed by 40 hex digits"}
	}
	return nil
}
