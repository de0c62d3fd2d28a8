package klicktipp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"crmsync/internal/jsonwalk"
)

// flexID is an id that KlickTipp sends as a JSON number or a numeric string
// ("17"); null and "" decode to 0.
type flexID int64

// UnmarshalJSON accepts 17, "17", null and "".
func (id *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if n, ok := plainID(b); ok {
		*id = flexID(n)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*id = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var ok bool
		if s, ok = jsonwalk.Unquote(b); !ok {
			return json.Unmarshal(b, &s) // the syntax error
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
	*id = flexID(n)
	return nil
}

// decodeIDMap decodes {"<id>": "<name>"} into map[int64]string. An empty
// PHP array ([]) is an empty map; a name that is not a string is an error.
func decodeIDMap(body []byte) (map[int64]string, error) {
	m, err := decodeStringMap(body)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]string, len(m))
	for k, v := range m {
		id, err := strconv.ParseInt(strings.TrimSpace(k), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("key %.40q is not an id", k)
		}
		out[id] = v
	}
	return out, nil
}

// decodeStringMap decodes {"<key>": "<string>"}; [] is an empty map; null
// values become "".
func decodeStringMap(body []byte) (map[string]string, error) {
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
		s, ok := scalarString(v)
		if !ok {
			return nil, fmt.Errorf("value of %.40q is not a string", k)
		}
		out[k] = s
	}
	return out, nil
}

// scalarString reads a JSON string, number, boolean or null as a string.
func scalarString(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		return jsonwalk.Unquote(v)
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

// decodeFirstID decodes [id] (or a bare id) and returns the first id; ok is
// false for an empty array.
func decodeFirstID(body []byte) (id int64, ok bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var ids []flexID
		if err := json.Unmarshal(body, &ids); err != nil {
			return 0, false, err
		}
		if len(ids) == 0 {
			return 0, false, nil
		}
		if ids[0] <= 0 {
			return 0, false, fmt.Errorf("id %d is not positive", ids[0])
		}
		return int64(ids[0]), true, nil
	}
	var one flexID
	if err := json.Unmarshal(body, &one); err != nil {
		return 0, false, err
	}
	if one <= 0 {
		return 0, false, fmt.Errorf("id %d is not positive", one)
	}
	return int64(one), true, nil
}

// decodeAck decodes [true] (or true). [false] and false are errors.
func decodeAck(body []byte) error {
	body = bytes.TrimSpace(body)
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err
	}
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	if b, ok := v.(bool); ok && b {
		return nil
	}
	return errors.New("expected [true]")
}

// plainID reads the common shapes of an id without allocating: 1 to 18
// digits, bare or quoted, no sign, no space, no leading zero (so it cannot
// overflow and strconv.ParseInt would agree). ok is false for anything
// else, which flexID's general path then reads.
func plainID(b []byte) (int64, bool) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 18 || b[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
