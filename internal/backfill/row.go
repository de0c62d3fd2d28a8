package backfill

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Item is one good row, encoded as it goes into a job: a contact object
// or a quoted email. JSON is valid until the next call of Next.
type Item struct {
	Line int64 // line where the row starts, 1-based
	JSON []byte
}

// RowError is a bad row: its line, why, and the row as read (for the
// rejects file). Readers return it from Next and carry on with the next
// row.
type RowError struct {
	Line   int64
	Reason string
	Fields []string // CSV: the row's fields as read
	Raw    string   // JSONL and text: the line as read (at most 64 KiB)
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Reader reads rows. Next returns the next good row; a *RowError for a bad
// row (call Next again); io.EOF at the end; any other error when the input
// cannot be read further.
type Reader interface {
	Next() (Item, error)
}

// appendString appends s as a JSON string. s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"

// isPlain reports whether s is printable ASCII without '"' and '\\': valid,
// free of control characters and written in JSON as it is. One pass.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendValue appends s as a JSON string; plain is isPlain(s).
func appendValue(b []byte, s string, plain bool) []byte {
	if !plain {
		return appendString(b, s)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTag appends a tag: a positive integer as a number (an id), else a
// name as a string.
func appendTag(b []byte, t string) []byte {
	if id, err := strconv.ParseInt(t, 10, 64); err == nil && id > 0 && strconv.FormatInt(id, 10) == t {
		return strconv.AppendInt(b, id, 10)
	}
	return appendString(b, t)
}

// badValue reports why a field value cannot be sent, or "": invalid
// UTF-8 (first, wherever it is), a control character other than tab, line
// feed and carriage return, more than 10,000 bytes. One pass over v.
func badValue(col, v string) string {
	control := false
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				control = true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Sprintf("column %q is not valid UTF-8", col)
		}
		if unicode.IsControl(r) {
			control = true
		}
		i += n
	}
	if control {
		return fmt.Sprintf("column %q contains control characters", col)
	}
	if len(v) > 10000 {
		return fmt.Sprintf("column %q is longer than 10,000 characters", col)
	}
	return ""
}

func asType[T error](err error, target *T) bool { return errors.As(err, target) }
