package clickyid

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// decodeList decodes a list answer: a bare JSON array, or an object holding
// the array under key (or "data"). Unknown fields are ignored.
func decodeList[T any](body []byte, key string) ([]T, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var out []T
		if err := json.Unmarshal(trimmed, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, err
	}
	if env == nil {
		return nil, fmt.Errorf("response is not a JSON object")
	}
	for _, k := range []string{key, "data"} {
		raw, ok := env[k]
		if !ok {
			continue
		}
		var out []T
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("%q: %w", k, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("no %q in response", key)
}
