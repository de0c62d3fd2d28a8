package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"crmsync/internal/jsonwalk"
)

// Kind is the kind of a job; it is also the last part of its subject.
type Kind string

// The job kinds.
const (
	KindContactUpsert Kind = "contact.upsert"
	KindEmailValidate Kind = "email.validate"
)

// Subject returns the job subject for k ("crmsync.jobs.contact.upsert").
func (k Kind) Subject() string { return JobsPrefix + string(k) }

// Targets of contact.upsert.
const (
	TargetKlickTipp = "klicktipp"
	TargetKlipy     = "klipy"
)

// DefaultAccount is the account used when a job names none.
const DefaultAccount = "default"

// Job is the envelope of the wire contract.
type Job struct {
	ID      string `json:"id,omitempty"`
	Kind    Kind   `json:"kind"`
	Target  string `json:"target,omitempty"`
	Account string `json:"account,omitempty"`

	// contact.upsert
	Contacts []Contact `json:"contacts,omitempty"`

	// email.validate
	Emails         []string `json:"emails,omitempty"`
	TargetGroupIDs []string `json:"targetGroupIds,omitempty"`
	OfferIDs       []string `json:"offerIds,omitempty"`
	Mode           string   `json:"mode,omitempty"`
}

// Items returns how many items (contacts or emails) the job carries.
func (j *Job) Items() int {
	if j.Kind == KindEmailValidate {
		return len(j.Emails)
	}
	return len(j.Contacts)
}

// ItemEmail returns the email of item i.
func (j *Job) ItemEmail(i int) string {
	if j.Kind == KindEmailValidate {
		return j.Emails[i]
	}
	return j.Contacts[i].Email
}

// Contact is one contact of a contact.upsert job. For KlickTipp, Fields,
// Tags and ListID are used; for Klipy the contact's keys (email, firstName,
// lastName, title, phone, and any other) pass through as Person.
type Contact struct {
	Email  string            `json:"email"`
	Fields map[string]string `json:"fields,omitempty"`
	Tags   []TagRef          `json:"tags,omitempty"`
	ListID int64             `json:"listid,omitempty"`
	// raw is a copy of the contact object as received, when it was decoded
	// from JSON; the strings above that need no decoding are slices of it.
	raw string
}

// UnmarshalJSON decodes a contact in one pass over its members, keeping a
// copy of the object for Person. email must be a string; fields an object
// whose values are strings or numbers (a number is kept as its text; null
// is ""); tags an array of ids or names; listid an integer (or its text).
// null leaves a key unset; keys match exactly; of duplicate keys the last
// wins. Errors name the key. b must be one valid JSON value, as
// encoding/json guarantees.
func (c *Contact) UnmarshalJSON(b []byte) error {
	start := jsonwalk.SkipSpace(b, 0)
	if start >= len(b) || b[start] != '{' {
		return notAnObject(b)
	}
	end := len(b)
	for end > start && isJSONSpace(b[end-1]) {
		end--
	}
	obj := b[start:end]
	t := contactText{obj: obj, raw: string(obj)}
	var emailV, fieldsV, tagsV, listV []byte
	for m := jsonwalk.NewMembers(obj); ; {
		k, v, ok := m.Next()
		if !ok {
			break
		}
		switch string(jsonwalk.KeyText(k)) {
		case "email":
			emailV = v
		case "fields":
			fieldsV = v
		case "tags":
			tagsV = v
		case "listid":
			listV = v
		}
	}
	out := Contact{raw: t.raw}
	if !isNull(emailV) {
		if emailV[0] != '"' {
			return fmt.Errorf("contact key \"email\": expected a string, got %s", rawKind(emailV))
		}
		out.Email = t.str(emailV)
	}
	if !isNull(fieldsV) {
		fields, err := t.fields(fieldsV)
		if err != nil {
			return err
		}
		out.Fields = fields
	}
	if !isNull(tagsV) {
		if tagsV[0] != '[' {
			return fmt.Errorf("contact key \"tags\": expected an array, got %s", rawKind(tagsV))
		}
		n := 0
		for e := jsonwalk.NewElements(tagsV); ; n++ {
			if _, ok := e.Next(); !ok {
				break
			}
		}
		out.Tags = make([]TagRef, 0, n)
		for e := jsonwalk.NewElements(tagsV); ; {
			v, ok := e.Next()
			if !ok {
				break
			}
			tag, err := t.tagRef(v)
			if err != nil {
				return err
			}
			out.Tags = append(out.Tags, tag)
		}
	}
	if !isNull(listV) {
		var text string
		switch rawKind(listV) {
		case "a number":
			text = t.text(listV)
		case "a string":
			text = t.str(listV)
		default:
			return fmt.Errorf("contact key \"listid\": expected an integer, got %s", rawKind(listV))
		}
		id, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return fmt.Errorf("contact key \"listid\": %q is not an integer", truncate(text, 40))
		}
		out.ListID = id
	}
	*c = out
	return nil
}

// notAnObject is UnmarshalJSON's error for a contact that is not a JSON
// object: null, or encoding/json's error for decoding b into a map.
func notAnObject(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		return err
	}
	return errors.New("contact is null, not an object")
}

// contactText reads the values of obj, the contact object being decoded,
// into strings that share raw, its copy, where they need no decoding.
type contactText struct {
	obj []byte
	raw string
}

// text returns the copy of v, a slice of t.obj. A slice of obj starts
// cap(obj)-cap(v) bytes into it, as it shares obj's array up to its end.
func (t contactText) text(v []byte) string {
	at := cap(t.obj) - cap(v)
	return t.raw[at : at+len(v)]
}

// str returns the text of the JSON string token v, a slice of t.obj.
func (t contactText) str(v []byte) string {
	if inner, ok := jsonwalk.PlainInner(v); ok {
		return t.text(inner)
	}
	s, _ := jsonwalk.Unquote(v)
	return s
}

// fields reads the contact's "fields" value v (not null). Of duplicate
// names the last wins; where several fields are bad, the error names the
// first of them.
func (t contactText) fields(v []byte) (map[string]string, error) {
	if v[0] != '{' {
		return nil, fmt.Errorf("contact key \"fields\": expected an object, got %s", rawKind(v))
	}
	type badField struct{ name, kind string }
	var bad []badField // the last bad value of each name that has one
	out := make(map[string]string)
	for m := jsonwalk.NewMembers(v); ; {
		k, fv, ok := m.Next()
		if !ok {
			break
		}
		name := t.str(k)
		if bad != nil {
			bad = slices.DeleteFunc(bad, func(b badField) bool { return b.name == name })
		}
		switch kind := rawKind(fv); kind {
		case "a string":
			out[name] = t.str(fv)
		case "a number":
			out[name] = t.text(fv)
		case "null":
			out[name] = ""
		default:
			delete(out, name)
			bad = append(bad, badField{name, kind})
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("contact field %q: expected a string or number, got %s", truncate(bad[0].name, 40), bad[0].kind)
	}
	return out, nil
}

// isJSONSpace reports JSON whitespace.
func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isNull reports a value that is absent (nil) or JSON null.
func isNull(v []byte) bool { return len(v) == 0 || v[0] == 'n' }

// rawKind names the JSON type of the valid JSON value v, for errors.
func rawKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// Person returns every key of the contact object as received (Klipy's
// person, which passes extra keys through), decoded anew at each call with
// numbers as json.Number so that they pass through unchanged; the caller
// may change the map. It is nil for a contact that was not decoded from
// JSON. The error is encoding/json's, which only a contact whose
// UnmarshalJSON was given invalid JSON can have.
func (c Contact) Person() (map[string]any, error) {
	if c.raw == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(c.raw))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		return nil, err
	}
	return all, nil
}

// MarshalJSON encodes the contact: for one decoded from JSON, Person's keys
// (in sorted order, numbers as received), else the KlickTipp fields.
func (c Contact) MarshalJSON() ([]byte, error) {
	if c.raw != "" {
		p, err := c.Person()
		if err != nil {
			return nil, err
		}
		return json.Marshal(p)
	}
	type plain Contact
	return json.Marshal(plain(c))
}

// TagRef is a KlickTipp tag given by id (a JSON number) or name (a string).
type TagRef struct {
	ID   int64
	Name string
}

// UnmarshalJSON accepts 17, "17" (an id) or "newsletter" (a name). b must
// be one valid JSON value, as encoding/json guarantees.
func (t *TagRef) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	r, err := contactText{obj: b, raw: string(b)}.tagRef(b)
	if err != nil {
		return err
	}
	*t = r
	return nil
}

// tagRef reads the tag v, a valid JSON value in t.obj: a positive integer
// (or its text) is an id, any other non-empty string a name.
func (t contactText) tagRef(v []byte) (TagRef, error) {
	switch kind := rawKind(v); kind {
	case "a string":
		s := strings.TrimSpace(t.str(v))
		if s == "" {
			return TagRef{}, errors.New("empty tag name")
		}
		if canonicalID(s) {
			if id, err := strconv.ParseInt(s, 10, 64); err == nil {
				return TagRef{ID: id}, nil
			}
		}
		return TagRef{Name: s}, nil
	case "a number":
		n := t.text(v)
		if id, err := strconv.ParseInt(n, 10, 64); err == nil && id > 0 {
			return TagRef{ID: id}, nil
		}
		return TagRef{}, fmt.Errorf("tag must be a positive id or a name, got %s", truncate(n, 40))
	default:
		return TagRef{}, fmt.Errorf("tag must be a positive id or a name, got %s", kind)
	}
}

// canonicalID reports whether s is how strconv.FormatInt writes a positive
// number: digits, the first not 0. (Checking it first spares a name the
// error that strconv.ParseInt allocates.)
func canonicalID(s string) bool {
	if s == "" || s[0] == '0' {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalJSON writes the id as a number or the name as a string.
func (t TagRef) MarshalJSON() ([]byte, error) {
	if t.Name != "" {
		return json.Marshal(t.Name)
	}
	return json.Marshal(t.ID)
}

// Limits bound what Decode accepts.
type Limits struct {
	MaxBytes int // largest accepted body; default 1 MiB
	MaxItems int // most items per job; default 10,000
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 1 << 20
	}
	if l.MaxItems <= 0 {
		l.MaxItems = 10000
	}
	return l
}

// InvalidError says why a message can never succeed; the runner sends it to
// the dead-letter stream with Reason as Crmsync-Error.
type InvalidError struct {
	Reason string
	Kind   Kind   // the kind, when known and valid; "" sends it to crmsync.dlq.invalid
	ID     string // the envelope's id, when the body was a JSON object carrying one
}

func (e *InvalidError) Error() string { return "invalid job: " + e.Reason }

// Decode parses and validates a job message received on subject. Errors are
// *InvalidError. Per-item problems (a malformed email, a field with control
// characters) are not errors here: CheckItem reports them so they fail
// alone while the rest of the job goes on.
func Decode(subject string, body []byte, lim Limits) (*Job, error) {
	return decode(subject, body, lim, true)
}

// DecodeHead checks what Decode checks of the envelope alone (size, UTF-8,
// JSON, kind against subject, id, account, target) and returns the job
// without its items: what the intake needs to route a job onto its lane,
// at a fraction of a full decode's cost (the items are scanned, not
// decoded). A body DecodeHead accepts may still fail Decode on its items.
// Errors are *InvalidError, worded as Decode's.
func DecodeHead(subject string, body []byte, lim Limits) (*Job, error) {
	return decode(subject, body, lim, false)
}

// head is the envelope without its items, decoded as Job's fields are
// (encoding/json's key matching, last key wins).
type head struct {
	ID      string `json:"id,omitempty"`
	Kind    Kind   `json:"kind"`
	Target  string `json:"target,omitempty"`
	Account string `json:"account,omitempty"`
}

func decode(subject string, body []byte, lim Limits, items bool) (*Job, error) {
	lim = lim.withDefaults()
	subjKind := Kind(strings.TrimPrefix(subject, JobsPrefix))
	if !subjKind.valid() {
		subjKind = ""
	}
	bad := func(k Kind, format string, a ...any) error {
		return &InvalidError{Reason: fmt.Sprintf(format, a...), Kind: k}
	}
	if len(body) > lim.MaxBytes {
		return nil, bad(subjKind, "body is %d bytes, more than the limit of %d (WORKER_MAX_JOB_BYTES)", len(body), lim.MaxBytes)
	}
	if !utf8.Valid(body) {
		return nil, bad(subjKind, "body is not valid UTF-8")
	}
	var j Job
	var h head
	var into any = &j
	if !items {
		into = &h
	}
	if json.Unmarshal(body, into) != nil {
		// Rare: decode again, one value at a time, to say what is wrong
		// (a Decoder tells data after the object from a broken object).
		j, h = Job{}, head{}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(into); err != nil {
			return nil, bad(subjKind, "body is not a job envelope: %s", jsonReason(err))
		}
		if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
			return nil, bad(subjKind, "body has data after the JSON object")
		}
	}
	if !items {
		j.ID, j.Kind, j.Target, j.Account = h.ID, h.Kind, h.Target, h.Account
	}
	bad = func(k Kind, format string, a ...any) error {
		return &InvalidError{Reason: fmt.Sprintf(format, a...), Kind: k, ID: truncate(oneLine(j.ID), 256)}
	}
	if !j.Kind.valid() {
		if j.Kind == "" {
			return nil, bad("", "kind is missing")
		}
		return nil, bad("", "unknown kind %q (want contact.upsert or email.validate)", truncate(string(j.Kind), 40))
	}
	if subjKind != j.Kind {
		return nil, bad(j.Kind, "kind %q does not match subject %q", j.Kind, subject)
	}
	if len(j.ID) > 256 {
		return nil, bad(j.Kind, "id is longer than 256 characters")
	}
	if strings.ContainsFunc(j.ID, isControl) {
		return nil, bad(j.Kind, "id contains control characters")
	}
	if j.Account == "" {
		j.Account = DefaultAccount
	}
	if !ValidAccount(j.Account) {
		return nil, bad(j.Kind, "account %q is not a valid account name (1-64 letters, digits, '_' or '-')", truncate(j.Account, 70))
	}
	badTarget := func() error {
		if j.Kind == KindContactUpsert && j.Target != TargetKlickTipp && j.Target != TargetKlipy {
			return bad(j.Kind, "target %q is not klicktipp or klipy", truncate(j.Target, 40))
		}
		return nil
	}
	if !items {
		if err := badTarget(); err != nil {
			return nil, err
		}
		return &j, nil
	}
	n := j.Items()
	if n == 0 {
		return nil, bad(j.Kind, "no items: %s is empty", map[Kind]string{KindContactUpsert: "contacts", KindEmailValidate: "emails"}[j.Kind])
	}
	if n > lim.MaxItems {
		return nil, bad(j.Kind, "%d items, more than the limit of %d (WORKER_MAX_JOB_ITEMS)", n, lim.MaxItems)
	}
	switch j.Kind {
	case KindContactUpsert:
		if err := badTarget(); err != nil {
			return nil, err
		}
		if len(j.Emails) > 0 {
			return nil, bad(j.Kind, "contact.upsert carries emails; use contacts")
		}
	case KindEmailValidate:
		if len(j.Contacts) > 0 {
			return nil, bad(j.Kind, "email.validate carries contacts; use emails")
		}
		switch j.Mode {
		case "":
			j.Mode = "any"
		case "any", "all":
		default:
			return nil, bad(j.Kind, "mode %q is not any or all", truncate(j.Mode, 20))
		}
	}
	return &j, nil
}

func (k Kind) valid() bool { return k == KindContactUpsert || k == KindEmailValidate }

// jsonReason turns a decoding error into a short reason without echoing
// large parts of the body.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not JSON (at byte %d: %s)", se.Offset, se.Error())
	}
	return truncate(err.Error(), 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
