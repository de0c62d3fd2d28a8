package clickyid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Member names, matched case-insensitively as encoding/json does.
var (
	kresults           = []byte("results")
	kdata              = []byte("data")
	kemail             = []byte("email")
	kisValid           = []byte("isValid")
	kmatchedDomain     = []byte("matchedDomain")
	kreason            = []byte("reason")
	ktargetGroup       = []byte("targetGroup")
	kvalidationDetails = []byte("validationDetails")
	kid                = []byte("id")
	kname              = []byte("name")
)

// scanBulk reads a bulk answer in one pass over body: the envelope and
// every result are decoded while the bytes are read once, without
// encoding/json's separate validation scan and reflection (a profile put
// about 40 % of the worker's time on ClickyID jobs in decoding these
// answers). It accepts exactly what json.Unmarshal into bulkEnvelope (or
// []bulkResult) accepts — keys matched case-insensitively, the last of
// duplicate keys winning, null leaving a field empty, a value of the wrong
// type an error, unknown members skipped but checked — and a differential
// fuzz test holds it to that.
func scanBulk(body []byte) ([]bulkResult, error) {
	s := &scanner{b: body}
	s.ws()
	var out []bulkResult
	var found bool
	switch s.peek() {
	case '[':
		r, err := s.results()
		if err != nil {
			return nil, err
		}
		out, found = r, true
	case '{':
		var data []bulkResult
		var haveData bool
		err := s.object(func(key []byte) error {
			switch {
			case bytes.EqualFold(key, kresults):
				if s.null() {
					out, found = nil, false
					return nil
				}
				r, err := s.results()
				out, found = r, err == nil
				return err
			case bytes.EqualFold(key, kdata):
				if s.null() {
					data, haveData = nil, false
					return nil
				}
				data, haveData = nil, false
				return s.object(func(key []byte) error {
					if !bytes.EqualFold(key, kresults) {
						return s.skip(0)
					}
					if s.null() {
						data, haveData = nil, false
						return nil
					}
					r, err := s.results()
					data, haveData = r, err == nil
					return err
				})
			}
			return s.skip(0)
		})
		if err != nil {
			return nil, err
		}
		if !found && haveData {
			out, found = data, true
		}
	default:
		if s.null() {
			break
		}
		if err := s.skip(0); err != nil {
			return nil, err
		}
		return nil, errors.New("response is not a JSON object")
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, s.errorf("data after the top-level value")
	}
	if !found {
		return nil, errors.New(`no "results" in response`)
	}
	return out, nil
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

type scanner struct {
	b []byte
	i int
}

func (s *scanner) errorf(format string, a ...any) error {
	return fmt.Errorf("offset %d: "+format, append([]any{s.i}, a...)...)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// null consumes a null and reports whether there was one.
func (s *scanner) null() bool {
	if s.peek() == 'n' && s.literal("null") == nil {
		return true
	}
	return false
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.errorf("invalid literal")
	}
	s.i += len(lit)
	return nil
}

// object reads an object, calling member for each key with the scanner at
// the member's value, which member must consume.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.errorf("want an object")
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errorf("want a key")
		}
		key, err := s.bytes()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.errorf("want ':'")
		}
		s.i++
		s.ws()
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errorf("want ',' or '}'")
		}
	}
}

// results reads the array of results.
func (s *scanner) results() ([]bulkResult, error) {
	if s.peek() != '[' {
		return nil, s.errorf("results are not an array")
	}
	s.i++
	out := make([]bulkResult, 0, MaxBulk)
	if s.peek() == ']' {
		s.i++
		return out, nil
	}
	for {
		var r bulkResult
		if !s.null() {
			if err := s.result(&r); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return out, nil
		default:
			return nil, s.errorf("want ',' or ']'")
		}
	}
}

// typeErr is what encoding/json would report for a value of the wrong type;
// like it, decoding goes on to check the rest, and the first one is returned.
type typeErr struct{ first error }

func (t *typeErr) note(err error) {
	if t.first == nil {
		t.first = err
	}
}

func (s *scanner) result(r *bulkResult) error {
	var te typeErr
	err := s.object(func(key []byte) error {
		switch {
		case bytes.EqualFold(key, kemail):
			return s.stringField(&r.Email, &te)
		case bytes.EqualFold(key, kisValid):
			return s.boolField(&r.IsValid, &te)
		case bytes.EqualFold(key, kmatchedDomain):
			return s.stringField(&r.MatchedDomain, &te)
		case bytes.EqualFold(key, kreason):
			return s.stringField(&r.Reason, &te)
		case bytes.EqualFold(key, ktargetGroup):
			tg, err := s.targetGroup(&te, 0)
			r.TargetGroup = tg
			return err
		case bytes.EqualFold(key, kvalidationDetails):
			start := s.i
			if err := s.skip(0); err != nil {
				return err
			}
			// A view of the body, not a copy: the body is this call's own
			// buffer, never reused (capacity cut so an append cannot write into it).
			r.ValidationDetails = json.RawMessage(s.b[start:s.i:s.i])
			return nil
		}
		return s.skip(0)
	})
	if err != nil {
		return err
	}
	return te.first
}

// stringField reads a string (null leaves dst as it is; another type is a
// type error).
func (s *scanner) stringField(dst *string, te *typeErr) error {
	switch s.peek() {
	case '"':
		v, err := s.str()
		*dst = v
		return err
	case 'n':
		return s.literal("null")
	}
	te.note(s.errorf("want a string"))
	return s.skip(0)
}

func (s *scanner) boolField(dst *bool, te *typeErr) error {
	switch s.peek() {
	case 't':
		*dst = true
		return s.literal("true")
	case 'f':
		*dst = false
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	te.note(s.errorf("want a boolean"))
	return s.skip(0)
}

// targetGroup reads a target group as targetGroupRef.UnmarshalJSON does.
func (s *scanner) targetGroup(te *typeErr, depth int) (targetGroupRef, error) {
	if depth > maxDepth {
		return "", s.errorf("nested too deep")
	}
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str()
		return targetGroupRef(v), err
	case c == '{':
		var id targetGroupRef
		var name string
		err := s.object(func(key []byte) error {
			switch {
			case bytes.EqualFold(key, kid):
				v, err := s.targetGroup(te, depth+1)
				id = v
				return err
			case bytes.EqualFold(key, kname):
				return s.stringField(&name, te)
			}
			return s.skip(depth + 1)
		})
		if id == "" {
			id = targetGroupRef(name)
		}
		return id, err
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		err := s.number()
		return targetGroupRef(s.b[start:s.i]), err
	}
	return "", s.skip(depth) // null, true, false, an array: not an id
}

// str reads a string literal as a string.
func (s *scanner) str() (string, error) {
	b, err := s.bytes()
	return string(b), err
}

// bytes reads a string literal. Without escapes and with valid UTF-8 it is
// the literal's own bytes (no copy); otherwise encoding/json decodes the
// one literal, so escapes and invalid UTF-8 come out exactly as it has them.
func (s *scanner) bytes() ([]byte, error) {
	start := s.i
	s.i++ // the opening quote
	plain, ascii := true, true
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			s.i++ // the common byte: nothing to decide
			continue
		}
		switch {
		case c >= utf8.RuneSelf:
			ascii = false
			s.i++
		case c == '"':
			s.i++
			lit := s.b[start:s.i]
			if plain && (ascii || utf8.Valid(lit)) {
				return lit[1 : len(lit)-1], nil
			}
			var v string
			if err := json.Unmarshal(lit, &v); err != nil {
				return nil, err
			}
			return []byte(v), nil
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.b) {
				return nil, s.errorf("unterminated string")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 || !isHex4(s.b[s.i+1:s.i+5]) {
					return nil, s.errorf("invalid \\u escape")
				}
				s.i += 5
			default:
				return nil, s.errorf("invalid escape")
			}
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.i++
		}
	}
	return nil, s.errorf("unterminated string")
}

// skipString consumes a string literal without decoding it.
func (s *scanner) skipString() error {
	_, err := s.bytesNoDecode()
	return err
}

// bytesNoDecode is bytes without the decoding of escaped literals (their
// syntax is still checked).
func (s *scanner) bytesNoDecode() ([]byte, error) {
	start := s.i
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= 0x20 && c != '"' && c != '\\' {
			s.i++ // the common byte: nothing to decide
			continue
		}
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], nil
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return nil, s.errorf("unterminated string")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 || !isHex4(s.b[s.i+1:s.i+5]) {
					return nil, s.errorf("invalid \\u escape")
				}
				s.i += 5
			default:
				return nil, s.errorf("invalid escape")
			}
		case c < 0x20:
			return nil, s.errorf("control character in string")
		default:
			s.i++
		}
	}
	return nil, s.errorf("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a number by JSON's grammar.
func (s *scanner) number() error {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		s.i = start
		return s.errorf("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return s.errorf("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return s.errorf("invalid number")
		}
	}
	return nil
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// skip consumes one value of any type, checking its syntax.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return s.errorf("nested too deep")
	}
	switch c := s.peek(); {
	case c == '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return s.errorf("want ',' or ']'")
			}
		}
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return s.errorf("want a value")
}
