package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"crmsync/internal/jsonstr"
)

// Every byte at every place of a word, and every pair of bytes side by
// side, is escaped as encoding/json escapes it (the word-at-a-time skip
// over safe bytes included).
func TestAppendIsJSONMarshals(t *testing.T) {
	t.Parallel()
	check := func(s string) {
		t.Helper()
		want, _ := json.Marshal(s)
		if got := jsonstr.Append(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
	bg := []byte(strings.Repeat("a", 17))
	for c := 0; c < 256; c++ {
		for i := range bg {
			s := bytes.Clone(bg)
			s[i] = byte(c)
			check(string(s))
		}
	}
	for c := 0; c < 256; c++ {
		for d := 0; d < 256; d++ {
			check(string([]byte{'a', 'b', 'c', byte(c), byte(d), 'x', 'y', 'z', 'w'}))
		}
	}
}

// Append appends: what dst held stays.
func TestAppendKeepsThePrefix(t *testing.T) {
	t.Parallel()
	if got := string(jsonstr.Append([]byte("x:"), "a<b")); got != `x:"a\u003cb"` {
		t.Errorf("got %s", got)
	}
}
