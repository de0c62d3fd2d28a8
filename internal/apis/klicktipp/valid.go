package klicktipp

import "crmsync/internal/jsonwalk"

// validJSON reports whether b is one valid JSON value with optional space
// around it: json.Valid's verdict on every input (FuzzValidJSON), in one
// direct pass instead of encoding/json's scanner state machine, which was
// most of what decoding a subscriber answer still cost.
func validJSON(b []byte) bool {
	i, ok := validValue(b, jsonwalk.SkipSpace(b, 0), 0)
	return ok && jsonwalk.SkipSpace(b, i) == len(b)
}

// validMembers checks, as validJSON does, that b is one JSON object (white
// space around it allowed) and calls visit with each member's key token
// (quotes included) and raw value, in order: a decoder's single pass over
// an answer. It reports false at the first syntax error; visit has then
// seen the members before it.
func validMembers(b []byte, visit func(key, value []byte)) bool {
	i := jsonwalk.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	end, ok := validObject(b, i, 0, visit)
	return ok && jsonwalk.SkipSpace(b, end) == len(b)
}

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// validObject checks the object starting at b[i] == '{' and returns the
// index after it, calling visit (when not nil) with each member's key token
// and raw value.
func validObject(b []byte, i, depth int, visit func(key, value []byte)) (int, bool) {
	if depth >= maxNesting {
		return i, false
	}
	i = jsonwalk.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		kEnd, ok := validString(b, i)
		if !ok {
			return kEnd, false
		}
		key := b[i:kEnd]
		i = jsonwalk.SkipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		vStart := jsonwalk.SkipSpace(b, i+1)
		vEnd, ok := validValue(b, vStart, depth+1)
		if !ok {
			return vEnd, false
		}
		if visit != nil {
			visit(key, b[vStart:vEnd])
		}
		i = jsonwalk.SkipSpace(b, vEnd)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = jsonwalk.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// validValue checks the value starting at b[i] and returns the index after it.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		return validObject(b, i, depth, nil)
	case c == '[':
		if depth >= maxNesting {
			return i, false
		}
		i = jsonwalk.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = validValue(b, i, depth+1); !ok {
				return i, false
			}
			i = jsonwalk.SkipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ',':
				i = jsonwalk.SkipSpace(b, i+1)
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		return validString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return validNumber(b, i)
	case c == 't':
		return validWord(b, i, "true")
	case c == 'f':
		return validWord(b, i, "false")
	case c == 'n':
		return validWord(b, i, "null")
	}
	return i, false
}

// validWord checks the literal w at b[i].
func validWord(b []byte, i int, w string) (int, bool) {
	if len(b)-i < len(w) || string(b[i:i+len(w)]) != w {
		return i, false
	}
	return i + len(w), true
}

// validString checks the string starting at b[i] == '"'. Like encoding/json
// it accepts invalid UTF-8 (decoding replaces it) but no control bytes.
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validNumber checks the number starting at b[i]: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, true
}
