package jsonwalk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"crmsync/internal/jsonwalk"
)

// valid is JSON that the walks and Unquote must read as encoding/json does.
var valid = []string{
	`{}`, `[]`, ` { } `, "\t[\r\n]\n", `""`, `"a"`, `0`, `-0`, `1.50`, `1e3`, `-2.5E-7`, `true`, `false`, `null`,
	`{"a":1}`, `{"a":1,"a":2}`, `{ "a" : "x" , "b" : [ 1 , 2 ] }`,
	`{"email":"ann@example.com","fields":{"fieldFirstName":"Ann","n":12.50,"z":null},"tags":["newsletter",17,"23"],"listid":"123"}`,
	`{"k\"ey":"va\\lue","\u00e9":"\ud83d\ude00","x":"\/\b\f\n\r\t"}`,
	`{"nested":{"a":{"b":[{"c":"}]"}]}},"after":"]}{["}`,
	`["a",{"b":"c"},[1,[2,[3]]],null,true,-1e-9,"\"quoted\""]`,
	`{"emoji":"😀","ümlaut":"größe","bad":"\udc00","lone":"\ud800x"}`,
	`"\u0000"`, `"tab\tin"`, `"a\u2028b"`,
}

func TestSkipValueEndsWhereTheValueEnds(t *testing.T) {
	t.Parallel()
	for _, c := range valid {
		b := []byte(c)
		i := jsonwalk.SkipSpace(b, 0)
		end := jsonwalk.SkipValue(b, i)
		if want := len(bytes.TrimRight(b, " \t\r\n")); end != want {
			t.Errorf("SkipValue(%q, %d) = %d, want %d", c, i, end, want)
		}
		if got := jsonwalk.SkipSpace(b, end); got != len(b) {
			t.Errorf("SkipSpace(%q, %d) = %d, want %d", c, end, got, len(b))
		}
	}
}

func TestSkipString(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		end     int
		escaped bool
	}{
		{`"" x`, 2, false},
		{`"abc",`, 5, false},
		{`"a\"b"`, 6, true},
		{`"a\\"b"`, 5, true},
		{`"\u00e9"`, 8, true},
		{`"open`, 5, false},
		{`"open\`, 6, true},
	} {
		end, esc := jsonwalk.SkipString([]byte(c.in), 0)
		if end != c.end || esc != c.escaped {
			t.Errorf("SkipString(%q) = %d, %v; want %d, %v", c.in, end, esc, c.end, c.escaped)
		}
	}
}

func TestPlainInner(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, inner string
		ok        bool
	}{
		{`"abc"`, "abc", true},
		{`""`, "", true},
		{`"größe"`, "größe", true},
		{`"a\nb"`, "", false},
		{"\"a\tb\"", "", false},
		{"\"a\xffb\"", "", false},
		{`abc`, "", false},
		{`"`, "", false},
		{``, "", false},
	} {
		inner, ok := jsonwalk.PlainInner([]byte(c.in))
		if string(inner) != c.inner || ok != c.ok {
			t.Errorf("PlainInner(%q) = %q, %v; want %q, %v", c.in, inner, ok, c.inner, c.ok)
		}
	}
}

func TestUnquote(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, out string
		ok      bool
	}{
		{`"abc"`, "abc", true},
		{`"a\"b\\c\/d"`, `a"b\c/d`, true},
		{`"\u00e9\ud83d\ude00"`, "é😀", true},
		{`"\ud800"`, "\uFFFD", true},
		{"\"a\xffb\"", "a\uFFFDb", true},
		{`17`, "", false},
		{`null`, "", false},
		{``, "", false},
		{`"open`, "", false},
	} {
		out, ok := jsonwalk.Unquote([]byte(c.in))
		if out != c.out || ok != c.ok {
			t.Errorf("Unquote(%q) = %q, %v; want %q, %v", c.in, out, ok, c.out, c.ok)
		}
	}
}

func TestKeyTextDoesNotCopyPlainKeys(t *testing.T) { // not parallel: AllocsPerRun
	s := []byte(`"email"`)
	k := jsonwalk.KeyText(s)
	if string(k) != "email" || &k[0] != &s[1] {
		t.Errorf("KeyText(%q) = %q, not the inner bytes", s, k)
	}
	if k := jsonwalk.KeyText([]byte(`"em\u0061il"`)); string(k) != "email" {
		t.Errorf("KeyText(escaped) = %q, want email", k)
	}
	if n := testing.AllocsPerRun(100, func() { _ = jsonwalk.KeyText(s) }); n != 0 {
		t.Errorf("KeyText of a plain key allocates %v times", n)
	}
}

func TestZeroValuesWalkNothing(t *testing.T) {
	t.Parallel()
	var m jsonwalk.Members
	if k, v, ok := m.Next(); ok {
		t.Errorf("zero Members gave %q: %q", k, v)
	}
	var e jsonwalk.Elements
	if v, ok := e.Next(); ok {
		t.Errorf("zero Elements gave %q", v)
	}
}

func TestWalksAgreeWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range valid {
		checkAgainstEncodingJSON(t, []byte(c))
	}
}

// FuzzWalk: on valid JSON the walks, SkipValue and Unquote agree with
// encoding/json; on any input they do not panic.
func FuzzWalk(f *testing.F) {
	for _, c := range valid {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"a":`))
	f.Add([]byte(`{"a"`))
	f.Add([]byte(`["`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			walkAll(b) // must not panic
			return
		}
		checkAgainstEncodingJSON(t, b)
	})
}

// walkAll runs every walk over b, which may be invalid.
func walkAll(b []byte) {
	for i := range len(b) + 1 {
		jsonwalk.SkipValue(b, i)
		jsonwalk.SkipSpace(b, i)
		if i < len(b) && b[i] == '"' {
			jsonwalk.SkipString(b, i)
		}
	}
	m := jsonwalk.NewMembers(b)
	for n := 0; n <= len(b); n++ {
		k, _, ok := m.Next()
		if !ok {
			break
		}
		jsonwalk.KeyText(k)
	}
	e := jsonwalk.NewElements(b)
	for n := 0; n <= len(b); n++ {
		if _, ok := e.Next(); !ok {
			break
		}
	}
	jsonwalk.Unquote(b)
}

// checkAgainstEncodingJSON compares the walk of the valid JSON b, and of
// every object and array inside it, with encoding/json's tokens.
func checkAgainstEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	i := jsonwalk.SkipSpace(b, 0)
	if end := jsonwalk.SkipValue(b, i); jsonwalk.SkipSpace(b, end) != len(b) {
		t.Fatalf("SkipValue(%q) = %d, stops before the end", b, end)
	}
	checkValue(t, bytes.TrimSpace(b))
}

func checkValue(t *testing.T, v []byte) {
	t.Helper()
	switch v[0] {
	case '"':
		var want string
		if err := json.Unmarshal(v, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", v, err)
		}
		got, ok := jsonwalk.Unquote(v)
		if !ok || got != want {
			t.Fatalf("Unquote(%q) = %q, %v; encoding/json says %q", v, got, ok, want)
		}
		if k := jsonwalk.KeyText(v); string(k) != want {
			t.Fatalf("KeyText(%q) = %q; encoding/json says %q", v, k, want)
		}
		if inner, ok := jsonwalk.PlainInner(v); ok && string(inner) != want {
			t.Fatalf("PlainInner(%q) = %q; encoding/json says %q", v, inner, want)
		}
	case '{':
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		m := jsonwalk.NewMembers(v)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var want json.RawMessage
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			key, got, ok := m.Next()
			if !ok {
				t.Fatalf("walk of %q ends before key %q", v, tok)
			}
			if k, _ := jsonwalk.Unquote(key); k != tok.(string) {
				t.Fatalf("walk of %q: key %q, encoding/json says %q", v, k, tok)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("walk of %q: value %q, encoding/json says %q", v, got, want)
			}
			checkValue(t, got)
		}
		if k, got, ok := m.Next(); ok {
			t.Fatalf("walk of %q goes on past the last member: %q: %q", v, k, got)
		}
	case '[':
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil { // [
			t.Fatal(err)
		}
		e := jsonwalk.NewElements(v)
		for dec.More() {
			var want json.RawMessage
			if err := dec.Decode(&want); err != nil {
				t.Fatal(err)
			}
			got, ok := e.Next()
			if !ok {
				t.Fatalf("walk of %q ends before element %q", v, want)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("walk of %q: element %q, encoding/json says %q", v, got, want)
			}
			checkValue(t, got)
		}
		if got, ok := e.Next(); ok {
			t.Fatalf("walk of %q goes on past the last element: %q", v, got)
		}
	default:
		var want json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(v))
		if err := dec.Decode(&want); err != nil || !bytes.Equal(want, v) {
			t.Fatalf("%q is not one scalar: %q, %v", v, want, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			t.Fatalf("%q has more after the scalar: %v", v, err)
		}
		if _, ok := jsonwalk.Unquote(v); ok {
			t.Fatalf("Unquote(%q) accepts a non-string", v)
		}
	}
}
