package klicktipp

import (
	"encoding/json"
	"unicode/utf8"
)

// The helpers below walk JSON that json.Valid has already accepted, so they
// only find where tokens end; they never judge whether the text is JSON.
// They let a decoder look at one object's members in a single pass without
// building a map of every key, which is what made POST /subscriber answers
// (forty-odd keys, of which the worker needs the id) expensive.

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"' and
// whether it holds a backslash escape.
func skipString(b []byte, i int) (end int, escaped bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i + 1, escaped
		}
	}
	return len(b), escaped
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i, _ = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isSpace(b[i]) {
		i++
	}
	return i
}

// members walks the members of a valid JSON object in order.
type members struct {
	b []byte
	i int
}

// newMembers starts a walk of the valid JSON object obj.
func newMembers(obj []byte) members { return members{b: obj, i: skipSpace(obj, 0) + 1} }

// next returns the raw key token (quotes included) and the raw value of the
// next member; ok is false after the last.
func (m *members) next() (key, value []byte, ok bool) {
	b, i := m.b, skipSpace(m.b, m.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == '}' {
		m.i = len(b)
		return nil, nil, false
	}
	kEnd, _ := skipString(b, i)
	key = b[i:kEnd]
	i = skipSpace(b, skipSpace(b, kEnd)+1) // past ':'
	vEnd := skipValue(b, i)
	m.i = vEnd
	return key, b[i:vEnd], true
}

// elements walks the elements of a valid JSON array in order.
type elements struct {
	b []byte
	i int
}

// newElements starts a walk of the valid JSON array arr.
func newElements(arr []byte) elements { return elements{b: arr, i: skipSpace(arr, 0) + 1} }

// next returns the raw value of the next element; ok is false after the last.
func (e *elements) next() (value []byte, ok bool) {
	b, i := e.b, skipSpace(e.b, e.i)
	if i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		e.i = len(b)
		return nil, false
	}
	end := skipValue(b, i)
	e.i = end
	return b[i:end], true
}

// keyText returns the text of the valid JSON string token s: its inner bytes
// when it needs no decoding (no allocation), else the decoded text.
func keyText(s []byte) []byte {
	if inner, ok := plainInner(s); ok {
		return inner
	}
	str, _ := unquote(s)
	return []byte(str)
}

// plainInner returns the bytes between the quotes of the JSON string token s
// when they need no decoding: no escape, no quote, no control byte, valid
// UTF-8.
func plainInner(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	inner := s[1 : len(s)-1]
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return nil, false
		}
	}
	return inner, utf8.Valid(inner)
}

// unquote decodes the JSON string token s (quotes included) the way
// encoding/json does, without its reflection when s needs no decoding; ok is
// false when s is not a JSON string.
func unquote(s []byte) (string, bool) {
	if inner, ok := plainInner(s); ok {
		return string(inner), true
	}
	var out string
	if len(s) == 0 || s[0] != '"' || json.Unmarshal(s, &out) != nil {
		return "", false
	}
	return out, true
}
