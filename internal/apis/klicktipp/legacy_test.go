package klicktipp

// The decoder of POST /subscriber answers as it was before the single-pass
// scan (commit 9bdb121), kept verbatim under other names as the reference
// the differential test and fuzz compare the new one against.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func legacyUnmarshalSubscriber(s *Subscriber, b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var out Subscriber
	var id, list legacyFlexID
	if v, ok := raw["id"]; ok {
		if err := json.Unmarshal(v, &id); err != nil {
			return fmt.Errorf("subscriber id: %w", err)
		}
	}
	if v, ok := raw["listid"]; ok {
		if err := json.Unmarshal(v, &list); err != nil {
			return fmt.Errorf("subscriber listid: %w", err)
		}
	}
	out.ID, out.ListID = int64(id), int64(list)
	for key, dst := range map[string]*string{"email": &out.Email, "status": &out.Status} {
		if v, ok := raw[key]; ok {
			s, ok := legacyScalarString(v)
			if !ok {
				return fmt.Errorf("subscriber %s is not a string", key)
			}
			*dst = s
		}
	}
	if v, ok := raw["tags"]; ok {
		tags, err := legacyDecodeTagIDs(v)
		if err != nil {
			return fmt.Errorf("subscriber tags: %w", err)
		}
		out.Tags = tags
	}
	if v, ok := raw["fields"]; ok && len(bytes.TrimSpace(v)) > 0 && bytes.TrimSpace(v)[0] == '{' {
		// Our own encoding of Subscriber nests the fields.
		if m, err := legacyDecodeStringMap(v); err == nil && len(m) > 0 {
			out.Fields = m
		}
	}
	for k, v := range raw {
		if !strings.HasPrefix(k, "field") || k == "fields" {
			continue
		}
		if fs, ok := legacyScalarString(v); ok {
			if out.Fields == nil {
				out.Fields = map[string]string{}
			}
			out.Fields[k] = fs
		}
	}
	*s = out
	return nil
}

func legacyDecodeTagIDs(v json.RawMessage) ([]int64, error) {
	v = bytes.TrimSpace(v)
	var ids []int64
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return nil, nil
	case v[0] == '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, err
		}
		for k := range m {
			var id legacyFlexID
			if err := id.UnmarshalJSON([]byte(k)); err != nil {
				return nil, err
			}
			ids = append(ids, int64(id))
		}
	default:
		var list []legacyFlexID
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, err
		}
		for _, id := range list {
			ids = append(ids, int64(id))
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

type legacyFlexID int64

// UnmarshalJSON accepts 17, "17", null and "".
func (id *legacyFlexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*id = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*id = 0
			return nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Tolerate 17.0, which some JSON encoders produce for numbers.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("id %.40q is not an integer", s)
		}
		n = int64(f)
	}
	*id = legacyFlexID(n)
	return nil
}

func legacyDecodeStringMap(body []byte) (map[string]string, error) {
	body = bytes.TrimSpace(body)
	if bytes.Equal(body, []byte("[]")) {
		return map[string]string{}, nil
	}
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("expected a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := legacyScalarString(v)
		if !ok {
			return nil, fmt.Errorf("value of %.40q is not a string", k)
		}
		out[k] = s
	}
	return out, nil
}

func legacyScalarString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case 'n':
		return "", string(v) == "null"
	case 't', 'f':
		return string(v), string(v) == "true" || string(v) == "false"
	case '{', '[':
		return "", false
	}
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		return "", false
	}
	return n.String(), true
}
