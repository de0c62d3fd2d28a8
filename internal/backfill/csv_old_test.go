package backfill

// The CSV reader as it was before it read rows itself (encoding/csv over
// a tape of the input): the reference the new one is fuzzed against.

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

// oldCSVReader reads CSV with a header row.
type oldCSVReader struct {
	r      *csv.Reader
	tape   *oldTape
	enc    *encoder
	header []string
	limit  int64 // the longest row, in bytes: MaxLine

	// r starts again after a row over limit: the input offset and the
	// lines before its first byte.
	offBase, lineBase int64
}

func newOldCSVReader(r io.Reader, spec Spec, limit int64) (*oldCSVReader, error) {
	t := &oldTape{r: skipBOM(r)}
	c := &oldCSVReader{tape: t, limit: limit}
	c.restart(0)
	t.limit = limit + oldCSVReadAhead
	header, err := c.r.Read()
	if t.tripped {
		return nil, usagef("header row is longer than %s bytes", Num(limit))
	}
	if err == io.EOF {
		return nil, usagef("no header row: the input is empty")
	}
	if err != nil {
		return nil, usagef("header row: %s", csvReason(err))
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
	c.r.FieldsPerRecord = len(header)
	c.enc, c.header = enc, header
	return c, nil
}

// restart reads on with a new csv.Reader from input offset off, where a
// row starts.
func (c *oldCSVReader) restart(off int64) {
	fields := 0
	if c.r != nil {
		fields = c.r.FieldsPerRecord
	}
	c.r = csv.NewReader(c.tape)
	c.r.ReuseRecord = true
	c.r.FieldsPerRecord = fields
	c.offBase, c.lineBase = off, c.tape.linesBefore(off)
}

// Header returns the header row.
func (c *oldCSVReader) Header() []string { return c.header }

func (c *oldCSVReader) Next() (Item, error) {
	start := c.offBase + c.r.InputOffset()
	c.tape.forget(start)
	c.tape.limit = start + c.limit + oldCSVReadAhead
	rec, err := c.r.Read()
	if c.tape.tripped {
		return c.longRow(start)
	}
	if err == io.EOF {
		return Item{}, io.EOF
	}
	end := c.offBase + c.r.InputOffset()
	if end-start > c.limit {
		first := c.tape.rowStart(start)
		return Item{}, &RowError{Line: c.tape.linesBefore(first) + 1, Reason: fmt.Sprintf("row is longer than %s bytes", Num(c.limit)), Raw: c.tape.text(start, end)}
	}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return Item{}, err
		}
		line := int64(pe.StartLine) + c.lineBase
		if errors.Is(err, csv.ErrFieldCount) {
			reason := fmt.Sprintf("row has %d columns, the header has %d", len(rec), len(c.header))
			return Item{}, &RowError{Line: line, Reason: reason, Fields: slices.Clone(rec)}
		}
		// A broken quote: the fields read are partial, so keep the lines.
		raw := c.tape.text(start, end)
		reason := csvReason(err)
		last := int64(pe.Line) + c.lineBase
		switch {
		case errors.Is(err, csv.ErrQuote) && c.tape.eof && pe.Column > c.tape.lastLineLen(start, end):
			reason = fmt.Sprintf("unterminated quote starting at line %d swallows lines %d-%d (the rest of the input): a CSV reader cannot tell where the next row starts", line, line, last)
		case last > line:
			reason = fmt.Sprintf("%s (lines %d-%d)", reason, line, last)
		}
		return Item{}, &RowError{Line: line, Reason: reason, Raw: raw}
	}
	l, _ := c.r.FieldPos(0)
	line := int64(l) + c.lineBase
	for i, f := range rec {
		if !utf8.ValidString(f) {
			return Item{}, &RowError{Line: line, Reason: fmt.Sprintf("column %q is not valid UTF-8", c.header[i]), Fields: slices.Clone(rec)}
		}
	}
	b, why := c.enc.encode(rec)
	if why != "" {
		return Item{}, &RowError{Line: line, Reason: why, Fields: slices.Clone(rec)}
	}
	return Item{Line: line, JSON: b}, nil
}

// oldCSVReadAhead is the most encoding/csv reads beyond what it has parsed:
// the size of the bufio.Reader it puts around the tape.
const oldCSVReadAhead = 4096

// longRow reads the rest of a row that went over the limit, as
// encoding/csv would have read it, without keeping it, and starts a new
// csv.Reader after it.
func (c *oldCSVReader) longRow(start int64) (Item, error) {
	t := c.tape
	var sc rowScan
	n, done := sc.feed(t.buf[start-t.base:])
	end := start + int64(n)
	if !done && sc.state <= scanLineCR { // only blank lines so far: the row starts after them
		t.rewind(start + sc.blank)
		c.restart(start + sc.blank)
		return c.Next()
	}
	first := start + sc.blank
	raw := t.text(first, end) // at most MaxRaw bytes of it
	line := t.linesBefore(first) + 1
	if done {
		t.rewind(end)
	} else {
		var err error
		if end, err = t.skip(end, &sc); err != nil {
			return Item{}, err
		}
	}
	last := line + sc.lines
	if sc.lastNL {
		last-- // the row's own line end
	}
	reason := fmt.Sprintf("row is longer than %s bytes (lines %d-%d)", Num(c.limit), line, last)
	if !sc.ended && sc.quoted() {
		reason = fmt.Sprintf("unterminated quote starting at line %d swallows lines %d-%d (the rest of the input): a CSV reader cannot tell where the next row starts", line, line, last)
	}
	c.restart(end)
	return Item{}, &RowError{Line: line, Reason: reason, Raw: raw}
}

// tape keeps the bytes read through it from an input offset on, so that a
// bad row's original text can be recovered. It holds the current row and
// what the CSV reader has buffered beyond it, and refuses to read more
// than limit: the row is too long then.
type oldTape struct {
	r     *bufio.Reader
	buf   []byte
	base  int64 // input offset of buf[0]
	next  int64 // input offset of the next byte Read returns
	lines int64 // line ends before base
	eof   bool  // r is at its end

	limit   int64 // Read returns oldErrRowTooLong rather than go past it
	tripped bool  // it did
}

var oldErrRowTooLong = errors.New("row too long")

func (t *oldTape) Read(p []byte) (int, error) {
	if end := t.base + int64(len(t.buf)); t.next < end { // after a long row: what was read beyond it
		n := copy(p, t.buf[t.next-t.base:])
		t.next += int64(n)
		return n, nil
	}
	if t.limit > 0 {
		room := t.limit - t.next
		if room <= 0 {
			t.tripped = true
			return 0, oldErrRowTooLong
		}
		p = p[:min(int64(len(p)), room)]
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	t.next += int64(n)
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// forget drops the bytes before input offset off, copying the rest down
// only when that halves the buffer, so each byte is copied about once.
func (t *oldTape) forget(off int64) {
	n := int(off - t.base)
	if n < 64<<10 || n < len(t.buf)/2 {
		return
	}
	t.lines += int64(bytes.Count(t.buf[:n], []byte("\n")))
	t.buf = t.buf[:copy(t.buf, t.buf[n:])]
	t.base = off
}

// linesBefore counts the line ends before input offset off (at or after
// base).
func (t *oldTape) linesBefore(off int64) int64 {
	return t.lines + int64(bytes.Count(t.buf[:off-t.base], []byte("\n")))
}

// rowStart returns the offset of the row starting at or after from, past
// the blank lines the CSV reader skips.
func (t *oldTape) rowStart(from int64) int64 {
	b := t.buf[from-t.base:]
	for {
		switch {
		case len(b) > 0 && b[0] == '\n':
			b, from = b[1:], from+1
			continue
		case bytes.HasPrefix(b, []byte("\r\n")):
			b, from = b[2:], from+2
			continue
		}
		return from
	}
}

// rewind makes Read go on from input offset off, which it returned before.
func (t *oldTape) rewind(off int64) {
	t.next, t.limit, t.tripped = off, 0, false
}

// skip reads on from input offset off (the end of the buffer) until sc
// finds the row's end, keeping only what comes after it, and returns the
// row's end.
func (t *oldTape) skip(off int64, sc *rowScan) (int64, error) {
	t.lines += int64(bytes.Count(t.buf, []byte("\n")))
	t.buf, t.base, t.next, t.limit, t.tripped = t.buf[:0], off, off, 0, false
	for {
		b, err := t.r.ReadSlice('\n')
		n, done := sc.feed(b)
		t.lines += int64(bytes.Count(b[:n], []byte("\n")))
		off += int64(n)
		if done {
			t.buf = append(t.buf, b[n:]...)
			t.base = off
			t.next = off
			return off, nil
		}
		if err == io.EOF {
			t.eof = true
			t.base, t.next = off, off
			return off, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, &InputError{Err: err}
		}
	}
}

// text returns the input from offset from to offset to, without the blank
// lines the CSV reader skipped before the row and the final line ending,
// at most MaxRaw bytes of it.
func (t *oldTape) text(from, to int64) string {
	to = min(to, t.base+int64(len(t.buf)))
	from = min(t.rowStart(from), to)
	b := oldTrimEOL(t.buf[from-t.base : to-t.base])
	return string(b[:min(len(b), MaxRaw)])
}

// lastLineLen is the length of the last line of the input from offset
// from to offset to, without its line ending.
func (t *oldTape) lastLineLen(from, to int64) int {
	b := oldTrimEOL(t.buf[from-t.base : to-t.base])
	return len(b) - (bytes.LastIndexByte(b, '\n') + 1)
}

func oldTrimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

type csvOut struct {
	Line         int64
	Item, Reason string
	Raw          string
	Fields       []string
	Err          string
}

func readCSVOut(r Reader, err error) []csvOut {
	if err != nil {
		return []csvOut{{Err: err.Error()}}
	}
	var out []csvOut
	for {
		it, err := r.Next()
		if err == io.EOF {
			return out
		}
		var re *RowError
		switch {
		case errors.As(err, &re):
			out = append(out, csvOut{Line: re.Line, Reason: re.Reason, Raw: re.Raw, Fields: re.Fields})
		case err != nil:
			return append(out, csvOut{Err: err.Error()})
		default:
			out = append(out, csvOut{Line: it.Line, Item: string(it.JSON)})
		}
	}
}
