package jsonwalk

import (
	"encoding/json"
	"unicode/utf8"
)

// KeyText returns the text of the valid JSON string token s (quotes
// included): its inner bytes when it needs no decoding (no allocation), else
// the text encoding/json decodes it to. It is meant for comparing keys; the
// result may share memory with s.
func KeyText(s []byte) []byte {
	if inner, ok := PlainInner(s); ok {
		return inner
	}
	str, _ := Unquote(s)
	return []byte(str)
}

// PlainInner returns the bytes between the quotes of the JSON string token
// s when they are its text as they stand: no backslash, no quote, no
// control byte, valid UTF-8. ok is false otherwise, and when s is not
// quoted.
func PlainInner(s []byte) (inner []byte, ok bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	inner = s[1 : len(s)-1]
	ascii := true
	for _, c := range inner {
		if c == '\\' || c == '"' || c < 0x20 {
			return nil, false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	if !ascii && !utf8.Valid(inner) {
		return nil, false
	}
	return inner, true
}

// Unquote decodes the JSON string token s (quotes included) exactly as
// encoding/json does (escapes, surrogate pairs, invalid UTF-8 replaced by
// U+FFFD), without encoding/json when s needs no decoding. ok is false when
// s is not a JSON string token.
func Unquote(s []byte) (string, bool) {
	if inner, ok := PlainInner(s); ok {
		return string(inner), true
	}
	var out string
	if len(s) == 0 || s[0] != '"' || json.Unmarshal(s, &out) != nil {
		return "", false
	}
	return out, true
}
