package backfill

import (
	"fmt"
	"strconv"
	"strings"

	"crmsync/internal/jobs"
)

// DefaultColumns maps normalised CSV column names (lower case, spaces and
// dashes as '_') to keys, per target. Columns not listed pass through
// unchanged for Klipy; for KlickTipp a column named like a field key
// (fieldCity, field12345) is used as it is, and any other column must be
// mapped with -map (or dropped with COL=-) before a row with a value in it
// is accepted.
var DefaultColumns = map[string]map[string]string{
	jobs.TargetKlickTipp: {
		"email": "email", "e_mail": "email", "email_address": "email", // as emailColumns
		"first_name": "fieldFirstName", "firstname": "fieldFirstName",
		"last_name": "fieldLastName", "lastname": "fieldLastName",
		"company": "fieldCompanyName", "company_name": "fieldCompanyName",
		"street": "fieldStreet1", "street1": "fieldStreet1", "street2": "fieldStreet2",
		"city": "fieldCity", "state": "fieldState", "zip": "fieldZip", "postcode": "fieldZip", "postal_code": "fieldZip",
		"country": "fieldCountry", "phone": "fieldPhone", "mobile": "fieldMobilePhone", "mobile_phone": "fieldMobilePhone",
		"private_phone": "fieldPrivatePhone", "fax": "fieldFax", "website": "fieldWebsite", "birthday": "fieldBirthday",
		"lead_value": "fieldLeadValue", "tags": "tags", "listid": "listid", "list_id": "listid",
	},
	jobs.TargetKlipy: {
		"email": "email", "e_mail": "email", "email_address": "email", // as emailColumns
		"first_name": "firstName", "firstname": "firstName",
		"last_name": "lastName", "lastname": "lastName",
		"title": "title", "phone": "phone",
	},
}

// emailColumns are the normalised column names read as the email, for
// every kind and target.
var emailColumns = map[string]bool{"email": true, "e_mail": true, "email_address": true}

func normColumn(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

type role int

const (
	roleDrop role = iota
	roleEmail
	roleField    // KlickTipp fields.<key>
	roleTags     // KlickTipp tags
	roleListID   // KlickTipp listid
	roleKey      // Klipy person key
	roleUnmapped // KlickTipp: a value here rejects the row
)

type column struct {
	name string
	role role
	key  []byte // JSON-quoted key
}

// encoder builds items from rows of named values.
type encoder struct {
	spec     Spec
	cols     []column
	email    int    // index of the email column
	tagsJSON []byte // the -tags, encoded, comma-separated
	buf      []byte
}

// newEncoder plans the columns of header for spec. For email.validate
// only the email column is used.
func newEncoder(spec Spec, header []string) (*encoder, error) {
	e := &encoder{spec: spec, email: -1}
	lower := map[string]string{}
	for k, v := range spec.Map {
		lower[normColumn(k)] = v
	}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		c := column{name: h}
		n := normColumn(h)
		key, mapped := lower[n]
		if !mapped {
			key, mapped = DefaultColumns[spec.Target][n]
		}
		if !mapped && emailColumns[n] {
			key, mapped = "email", true
		}
		switch {
		case key == "email":
			if e.email >= 0 {
				return nil, usagef("header has two email columns (%q and %q)", header[e.email], h)
			}
			c.role, e.email = roleEmail, i
		case spec.Kind == jobs.KindEmailValidate || key == "-":
			c.role = roleDrop
		case spec.Target == jobs.TargetKlickTipp:
			switch {
			case key == "tags":
				c.role = roleTags
			case key == "listid":
				c.role = roleListID
			case mapped:
				c.role, c.key = roleField, appendString(nil, key)
			case fieldKey.MatchString(strings.TrimSpace(h)):
				c.role, c.key = roleField, appendString(nil, strings.TrimSpace(h))
			default:
				c.role = roleUnmapped
			}
		default: // Klipy
			if !mapped {
				key = strings.TrimSpace(h)
			}
			if key == "" {
				c.role = roleDrop
			} else {
				c.role, c.key = roleKey, appendString(nil, key)
			}
		}
		e.cols = append(e.cols, c)
	}
	if e.email < 0 {
		return nil, usagef("header has no email column (columns: %s); name one with -map COLUMN=email", strings.Join(header, ", "))
	}
	for i, t := range spec.Tags {
		if i > 0 {
			e.tagsJSON = append(e.tagsJSON, ',')
		}
		e.tagsJSON = appendTag(e.tagsJSON, strings.TrimSpace(t))
	}
	return e, nil
}

// encode builds the item of one row, or returns why the row is bad.
func (e *encoder) encode(row []string) ([]byte, string) {
	email := strings.TrimSpace(row[e.email])
	if err := jobs.CheckEmail(email); err != nil {
		return nil, err.Error()
	}
	b := e.buf[:0]
	if e.spec.Kind == jobs.KindEmailValidate {
		e.buf = appendString(b, email)
		return e.buf, ""
	}
	b = append(b, `{"email":`...)
	b = appendString(b, email)
	listID := e.spec.ListID
	fields := 0
	var tags []string
	for i, c := range e.cols {
		if c.role == roleDrop || c.role == roleEmail {
			continue
		}
		v := row[i]
		if v == "" {
			continue
		}
		plain := isPlain(v)
		if !plain || len(v) > 10000 {
			if why := badValue(c.name, v); why != "" {
				return nil, why
			}
		}
		switch c.role {
		case roleUnmapped:
			if strings.TrimSpace(v) == "" {
				continue
			}
			return nil, fmt.Sprintf("column %q is not mapped to a KlickTipp field (add -map '%s=fieldKey', or '%s=-' to drop it)", c.name, c.name, c.name)
		case roleTags:
			for _, t := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
				if t = strings.TrimSpace(t); t != "" {
					tags = append(tags, t)
				}
			}
		case roleListID:
			id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || id <= 0 {
				return nil, fmt.Sprintf("column %q: list id %q is not a positive integer", c.name, truncate(v, 40))
			}
			listID = id
		case roleField:
			if fields == 0 {
				b = append(b, `,"fields":{`...)
			} else {
				b = append(b, ',')
			}
			fields++
			b = append(b, c.key...)
			b = append(b, ':')
			b = appendValue(b, v, plain)
		case roleKey:
			b = append(b, ',')
			b = append(b, c.key...)
			b = append(b, ':')
			b = appendValue(b, v, plain)
		}
	}
	if fields > 0 {
		b = append(b, '}')
	}
	if len(tags) > 0 || len(e.tagsJSON) > 0 {
		b = append(b, `,"tags":[`...)
		b = append(b, e.tagsJSON...)
		for i, t := range tags {
			if i > 0 || len(e.tagsJSON) > 0 {
				b = append(b, ',')
			}
			b = appendTag(b, t)
		}
		b = append(b, ']')
	}
	if listID > 0 {
		b = append(b, `,"listid":`...)
		b = strconv.AppendInt(b, listID, 10)
	}
	b = append(b, '}')
	e.buf = b
	return b, ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
