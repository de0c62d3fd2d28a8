package jobs

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
)

// CheckEmail reports why email is not a well-formed address, or nil. It
// accepts a bare addr-spec (no display name), at most 254 characters with a
// local part of at most 64, and a domain with a dot.
func CheckEmail(email string) error {
	switch {
	case email == "":
		return fmt.Errorf("email is empty")
	case len(email) > 254:
		return fmt.Errorf("email is %d characters, more than 254", len(email))
	case strings.ContainsFunc(email, func(r rune) bool { return isControl(r) || unicode.IsSpace(r) }):
		return fmt.Errorf("email %q contains spaces or control characters", truncate(email, 80))
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return fmt.Errorf("email %q is not a valid address", truncate(email, 80))
	}
	local, domain, _ := strings.Cut(email, "@")
	if len(local) > 64 {
		return fmt.Errorf("email %q has a local part longer than 64 characters", truncate(email, 80))
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return fmt.Errorf("email %q has no valid domain", truncate(email, 80))
	}
	return nil
}

// CheckItem reports why item i of j cannot be sent, or nil: a malformed
// email, or a KlickTipp field with control characters or over 10,000
// characters.
func CheckItem(j *Job, i int) error {
	if err := CheckEmail(j.ItemEmail(i)); err != nil {
		return err
	}
	if j.Kind != KindContactUpsert {
		return nil
	}
	c := j.Contacts[i]
	for k, v := range c.Fields {
		if k == "" || strings.ContainsFunc(k, isControl) {
			return fmt.Errorf("field name %q is not valid", truncate(k, 40))
		}
		if strings.ContainsFunc(v, isControl) {
			return fmt.Errorf("field %s contains control characters", truncate(k, 40))
		}
		if len(v) > 10000 {
			return fmt.Errorf("field %s is longer than 10,000 characters", truncate(k, 40))
		}
	}
	if c.ListID < 0 {
		return fmt.Errorf("listid %d is not valid", c.ListID)
	}
	return nil
}

// isControl reports control characters other than tab, CR and LF.
func isControl(r rune) bool {
	return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
}
