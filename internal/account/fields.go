package account

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
)

// clickyIDKey is the form of a ClickyID live key, as clickyid.New checks it.
var clickyIDKey = regexp.MustCompile(`^ck_live_[0-9a-fA-F]{40}$`)

// checkFields checks the values of p's section for api as ACCOUNTS_FILE
// spells them, before any client is built: it returns the JSON key of the
// first bad value and what is wrong with it (never the value of a secret),
// or "", nil. Base URLs left out (taken from the environment) are checked
// where the variables are read. The clients check again; what they alone
// find is reported in their words.
func checkFields(api string, p Profile, allowInsecure bool) (string, error) {
	baseURL := func(raw string) error {
		if raw == "" {
			return nil
		}
		if _, err := apis.ParseBaseURL(raw, allowInsecure); err != nil {
			return fmt.Errorf("is not usable: %w", err)
		}
		return nil
	}
	switch api {
	case "klicktipp":
		k := p.KlickTipp
		if err := baseURL(k.BaseURL); err != nil {
			return "baseUrl", err
		}
		if strings.TrimSpace(k.Username) == "" {
			return "username", errors.New("is required")
		}
		dk, ck := strings.TrimSpace(k.DeveloperKey), strings.TrimSpace(k.CustomerKey)
		switch {
		case dk != "" && ck != "":
			if _, err := klicktipp.XCI(dk, ck); err != nil {
				return "developerKey", errors.New("is not hex")
			}
		case dk != "":
			return "customerKey", errors.New("is required with developerKey")
		case ck != "":
			return "developerKey", errors.New("is required with customerKey")
		case k.Password == "":
			return "password", errors.New("is required (or developerKey and customerKey)")
		}
	case "klipy":
		k := p.Klipy
		if err := baseURL(k.BaseURL); err != nil {
			return "baseUrl", err
		}
		switch {
		case k.APIKey == "":
			return "apiKey", errors.New("is required")
		case strings.IndexFunc(k.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return "apiKey", errors.New("must not contain whitespace or control characters")
		}
	case "clickyid":
		k := p.ClickyID
		if err := baseURL(k.BaseURL); err != nil {
			return "baseUrl", err
		}
		switch {
		case k.APIKey == "":
			return "apiKey", errors.New("is required")
		case !clickyIDKey.MatchString(k.APIKey):
			return "apiKey", errors.New("is malformed (want ck_live_ and 40 hex characters)")
		}
	}
	return "", nil
}
