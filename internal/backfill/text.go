package backfill

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// MaxLine is the longest line the JSONL and text readers accept; a longer
// line is a bad row.
const MaxLine = 1 << 20

// lines reads lines of at most MaxLine bytes, counting them.
type lines struct {
	r    *bufio.Reader
	line int64
	long []byte
}

// newLines reads the lines of r, skipping a leading UTF-8 BOM.
func newLines(r io.Reader) *lines { return &lines{r: skipBOM(r)} }

// next returns the next line without its line ending (valid until the
// next call), or too=true when it was longer than MaxLine (the rest was
// skipped).
func (l *lines) next() (b []byte, too bool, err error) {
	b, err = l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = l.r.ReadSlice('\n')
			if len(l.long) <= MaxLine {
				l.long = append(l.long, b...)
			}
		}
		b = l.long
	}
	if err == io.EOF && len(b) == 0 {
		return nil, false, io.EOF
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	l.line++
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) > MaxLine {
		return b[:256], true, nil
	}
	return b, false, nil
}

// MaxRaw is the most of a bad row's text that a RowError (and so the
// rejects file) keeps.
const MaxRaw = 64 << 10

func rawOf(b []byte) string {
	if len(b) > MaxRaw {
		b = b[:MaxRaw]
	}
	return string(b)
}

// textReader reads one email a line.
type textReader struct {
	l   *lines
	enc *encoder
	row [1]string
}

// NewTextReader reads one email a line; surrounding spaces are trimmed,
// blank lines and lines starting with # are skipped. For contact.upsert
// each email is a contact with the spec's list and tags.
func NewTextReader(r io.Reader, spec Spec) Reader {
	enc, _ := newEncoder(spec.WithDefaults(), []string{"email"})
	return &textReader{l: newLines(r), enc: enc}
}

func (t *textReader) Next() (Item, error) {
	for {
		b, too, err := t.l.next()
		if err != nil {
			return Item{}, err
		}
		if too {
			return Item{}, &RowError{Line: t.l.line, Reason: fmt.Sprintf("line is longer than %d bytes", MaxLine), Raw: rawOf(b)}
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if !utf8.Valid(b) {
			return Item{}, &RowError{Line: t.l.line, Reason: "line is not valid UTF-8", Raw: rawOf(b)}
		}
		t.row[0] = string(b)
		item, why := t.enc.encode(t.row[:])
		if why != "" {
			return Item{}, &RowError{Line: t.l.line, Reason: why, Raw: t.row[0]}
		}
		return Item{Line: t.l.line, JSON: item}, nil
	}
}
