package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"crmsync/internal/jobs"
)

// refContact is the contact decoder before jsonwalk (a map of every key,
// then the keys read out of it), kept as the reference the new one must
// match: same accepted inputs, same values, same errors, same encoding.
type refContact struct {
	Email  string            `json:"email"`
	Fields map[string]string `json:"fields,omitempty"`
	Tags   []jobs.TagRef     `json:"tags,omitempty"`
	ListID int64             `json:"listid,omitempty"`
	Person map[string]any    `json:"-"`
}

func (c *refContact) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil {
		return err
	}
	if all == nil {
		return errors.New("contact is null, not an object")
	}
	out := refContact{Person: all}
	if v, ok := all["email"]; ok && v != nil {
		e, ok := v.(string)
		if !ok {
			return fmt.Errorf("contact key \"email\": expected a string, got %s", refJSONKind(v))
		}
		out.Email = e
	}
	if v, ok := all["fields"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("contact key \"fields\": expected an object, got %s", refJSONKind(v))
		}
		out.Fields = make(map[string]string, len(m))
		for k, fv := range m {
			switch fv := fv.(type) {
			case string:
				out.Fields[k] = fv
			case json.Number:
				out.Fields[k] = fv.String()
			case nil:
				out.Fields[k] = ""
			default:
				return fmt.Errorf("contact field %q: expected a string or number, got %s", refTruncate(k, 40), refJSONKind(fv))
			}
		}
	}
	if v, ok := all["tags"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("contact key \"tags\": expected an array, got %s", refJSONKind(v))
		}
		out.Tags = make([]jobs.TagRef, 0, len(list))
		for _, tv := range list {
			t, err := refTagRefOf(tv)
			if err != nil {
				return err
			}
			out.Tags = append(out.Tags, t)
		}
	}
	if v, ok := all["listid"]; ok && v != nil {
		var raw string
		switch v := v.(type) {
		case json.Number:
			raw = v.String()
		case string:
			raw = v
		default:
			return fmt.Errorf("contact key \"listid\": expected an integer, got %s", refJSONKind(v))
		}
		id, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("contact key \"listid\": %q is not an integer", refTruncate(raw, 40))
		}
		out.ListID = id
	}
	*c = out
	return nil
}

func refJSONKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func (c refContact) MarshalJSON() ([]byte, error) {
	if c.Person != nil {
		return json.Marshal(c.Person)
	}
	type plain refContact
	return json.Marshal(plain(c))
}

// refTagRef is the old TagRef.UnmarshalJSON.
type refTagRef jobs.TagRef

func (t *refTagRef) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	r, err := refTagRefOf(v)
	if err != nil {
		return err
	}
	*t = refTagRef(r)
	return nil
}

func refTagRefOf(v any) (jobs.TagRef, error) {
	switch v := v.(type) {
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return jobs.TagRef{}, errors.New("empty tag name")
		}
		if id, err := strconv.ParseInt(s, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == s {
			return jobs.TagRef{ID: id}, nil
		}
		return jobs.TagRef{Name: s}, nil
	case json.Number:
		if id, err := v.Int64(); err == nil && id > 0 {
			return jobs.TagRef{ID: id}, nil
		}
		return jobs.TagRef{}, fmt.Errorf("tag must be a positive id or a name, got %s", refTruncate(v.String(), 40))
	}
	return jobs.TagRef{}, fmt.Errorf("tag must be a positive id or a name, got %s", refJSONKind(v))
}

func refTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
