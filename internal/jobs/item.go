package jobs

import (
	"fmt"
	"strings"
	"unicode"
)

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
