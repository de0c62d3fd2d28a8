package backfill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"crmsync/internal/jobs"
)

// jsonlReader reads one JSON value a line.
type jsonlReader struct {
	l    *lines
	spec Spec
	buf  bytes.Buffer
	out  []byte
}

// NewJSONLReader reads JSON Lines: for contact.upsert one contact object a
// line in the wire contract's shape ({"email", "fields", "tags", "listid"}
// for KlickTipp; {"email", "firstName", ...} for Klipy); for email.validate
// a JSON string or an object with "email". Blank lines are skipped. The
// spec's list and tags are added to each contact (a contact's own listid
// wins).
func NewJSONLReader(r io.Reader, spec Spec) Reader {
	return &jsonlReader{l: newLines(r), spec: spec.WithDefaults()}
}

func (j *jsonlReader) Next() (Item, error) {
	for {
		b, too, err := j.l.next()
		if err != nil {
			return Item{}, err
		}
		line := j.l.line
		bad := func(format string, a ...any) (Item, error) {
			return Item{}, &RowError{Line: line, Reason: fmt.Sprintf(format, a...), Raw: rawOf(b)}
		}
		if too {
			return bad("line is longer than %d bytes", MaxLine)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return bad("line is not valid UTF-8")
		}
		if j.spec.Kind == jobs.KindEmailValidate {
			return j.email(line, b)
		}
		if b[0] != '{' {
			return bad("not a JSON object")
		}
		var c jobs.Contact
		if err := json.Unmarshal(b, &c); err != nil {
			return bad("not a contact object: %s", jsonReason(err))
		}
		person, err := c.Person()
		if err != nil {
			return bad("not a contact object: %s", jsonReason(err))
		}
		if _, ok := person["email"].(string); !ok {
			return bad("contact has no \"email\" string")
		}
		job := jobs.Job{Kind: jobs.KindContactUpsert, Target: j.spec.Target, Contacts: []jobs.Contact{c}}
		if err := jobs.CheckItem(&job, 0); err != nil {
			return bad("%s", err.Error())
		}
		if j.spec.Target == jobs.TargetKlickTipp && (len(j.spec.Tags) > 0 || j.spec.ListID > 0) {
			if j.spec.ListID > 0 && c.ListID == 0 {
				person["listid"] = j.spec.ListID
			}
			if len(j.spec.Tags) > 0 {
				tags, _ := person["tags"].([]any)
				for _, t := range j.spec.Tags {
					tags = append(tags, json.RawMessage(appendTag(nil, strings.TrimSpace(t))))
				}
				person["tags"] = tags
			}
			out, err := json.Marshal(person)
			if err != nil {
				return bad("cannot encode contact: %v", err)
			}
			j.out = out
		} else {
			j.buf.Reset()
			if err := json.Compact(&j.buf, b); err != nil {
				return bad("not JSON: %s", jsonReason(err))
			}
			j.out = j.buf.Bytes()
		}
		return Item{Line: line, JSON: j.out}, nil
	}
}

func (j *jsonlReader) email(line int64, b []byte) (Item, error) {
	bad := func(format string, a ...any) (Item, error) {
		return Item{}, &RowError{Line: line, Reason: fmt.Sprintf(format, a...), Raw: rawOf(b)}
	}
	var email string
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &email); err != nil {
			return bad("not a JSON string: %s", jsonReason(err))
		}
	case '{':
		var o struct {
			Email *string `json:"email"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return bad("not an object with an email: %s", jsonReason(err))
		}
		if o.Email == nil {
			return bad("object has no \"email\"")
		}
		email = *o.Email
	default:
		return bad("not a JSON string or object")
	}
	if err := jobs.CheckEmail(email); err != nil {
		return bad("%s", err.Error())
	}
	j.out = appendString(j.out[:0], email)
	return Item{Line: line, JSON: j.out}, nil
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if ok := asType(err, &te); ok {
		if te.Field != "" {
			return fmt.Sprintf("%q must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected %s, not %s", te.Type, te.Value)
	}
	var se *json.SyntaxError
	if asType(err, &se) {
		return fmt.Sprintf("at byte %d: %s", se.Offset, se.Error())
	}
	return truncate(err.Error(), 200)
}
