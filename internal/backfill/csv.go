package backfill

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// csvReader reads CSV with a header row.
type csvReader struct {
	r      *csv.Reader
	tape   *tape
	enc    *encoder
	header []string
}

// NewCSVReader reads CSV from r: the first row names the columns (one must
// be the email, see DefaultColumns and Spec.Map). A leading UTF-8 BOM is
// skipped. A header problem is a *UsageError.
//
// A row whose quotes are broken is a *RowError with the original text of
// its lines in Raw. encoding/csv cannot find the next row after an
// unterminated quote: the rest of the input is then that one row.
func NewCSVReader(r io.Reader, spec Spec) (Reader, error) {
	t := &tape{r: skipBOM(r)}
	cr := csv.NewReader(t)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, usagef("no header row: the input is empty")
	}
	if err != nil {
		return nil, usagef("header row: %v", err)
	}
	header = slices.Clone(header)
	for _, h := range header {
		if !utf8.ValidString(h) {
			return nil, usagef("header row is not valid UTF-8")
		}
	}
	enc, err := newEncoder(spec.WithDefaults(), header)
	if err != nil {
		return nil, err
	}
	cr.FieldsPerRecord = len(header)
	return &csvReader{r: cr, tape: t, enc: enc, header: header}, nil
}

// Header returns the header row.
func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() (Item, error) {
	start := c.r.InputOffset()
	c.tape.forget(start)
	rec, err := c.r.Read()
	if err == io.EOF {
		return Item{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return Item{}, err
		}
		line := int64(pe.StartLine)
		if errors.Is(err, csv.ErrFieldCount) {
			reason := fmt.Sprintf("row has %d columns, the header has %d", len(rec), len(c.header))
			return Item{}, &RowError{Line: line, Reason: reason, Fields: slices.Clone(rec)}
		}
		// A broken quote: the fields read are partial, so keep the lines.
		raw := c.tape.text(start, c.r.InputOffset())
		reason := pe.Err.Error()
		switch {
		case errors.Is(err, csv.ErrQuote) && c.tape.eof && pe.Column > len(lastLine(raw)):
			reason = fmt.Sprintf("unterminated quote starting at line %d swallows lines %d-%d (the rest of the input): a CSV reader cannot tell where the next row starts", pe.StartLine, pe.StartLine, pe.Line)
		case pe.Line > pe.StartLine:
			reason = fmt.Sprintf("%s (lines %d-%d)", reason, pe.StartLine, pe.Line)
		}
		return Item{}, &RowError{Line: line, Reason: reason, Raw: raw}
	}
	line, _ := c.r.FieldPos(0)
	for i, f := range rec {
		if !utf8.ValidString(f) {
			return Item{}, &RowError{Line: int64(line), Reason: fmt.Sprintf("column %q is not valid UTF-8", c.header[i]), Fields: slices.Clone(rec)}
		}
	}
	b, why := c.enc.encode(rec)
	if why != "" {
		return Item{}, &RowError{Line: int64(line), Reason: why, Fields: slices.Clone(rec)}
	}
	return Item{Line: int64(line), JSON: b}, nil
}

// lastLine returns the last line of s, without its line ending.
func lastLine(s string) string {
	return s[bytes.LastIndexByte([]byte(s), '\n')+1:]
}

// tape keeps the bytes read through it from an input offset on, so that a
// bad row's original text can be recovered. It holds the current row and
// what the CSV reader has buffered beyond it.
type tape struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
	eof  bool  // r is at its end
}

func (t *tape) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// forget drops the bytes before input offset off, copying the rest down
// only when that halves the buffer, so each byte is copied about once.
func (t *tape) forget(off int64) {
	n := int(off - t.base)
	if n < 64<<10 || n < len(t.buf)/2 {
		return
	}
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
	t.base = off
}

// text returns the input from offset from to offset to, without the blank
// lines the CSV reader skipped before the row and the final line ending.
func (t *tape) text(from, to int64) string {
	b := t.buf[from-t.base : to-t.base]
	for {
		switch {
		case bytes.HasPrefix(b, []byte("\n")):
			b = b[1:]
			continue
		case bytes.HasPrefix(b, []byte("\r\n")):
			b = b[2:]
			continue
		}
		break
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return string(bytes.TrimSuffix(b, []byte("\r")))
}

// skipBOM returns r without a leading UTF-8 byte order mark, buffered.
func skipBOM(r io.Reader) *bufio.Reader {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	return br
}
