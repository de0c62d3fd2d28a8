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
	limit  int64 // the longest row, in bytes: MaxLine

	// r starts again after a row over limit: the input offset and the
	// lines before its first byte.
	offBase, lineBase int64
}

// NewCSVReader reads CSV from r: the first row names the columns (one must
// be the email, see DefaultColumns and Spec.Map). A leading UTF-8 BOM is
// skipped. A header problem is a *UsageError.
//
// A row whose quotes are broken is a *RowError with the original text of
// its lines in Raw. encoding/csv cannot find the next row after an
// unterminated quote: the rest of the input is then that one row. A row
// longer than MaxLine bytes (all of its lines) is a *RowError too; it is
// read to its end without being kept, and its Raw holds its first
// MaxRaw bytes.
func NewCSVReader(r io.Reader, spec Spec) (Reader, error) {
	return newCSVReader(r, spec, MaxLine)
}

func newCSVReader(r io.Reader, spec Spec, limit int64) (*csvReader, error) {
	t := &tape{r: skipBOM(r)}
	c := &csvReader{tape: t, limit: limit}
	c.restart(0)
	t.limit = limit + csvReadAhead
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
func (c *csvReader) restart(off int64) {
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
func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() (Item, error) {
	start := c.offBase + c.r.InputOffset()
	c.tape.forget(start)
	c.tape.limit = start + c.limit + csvReadAhead
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

// csvReadAhead is the most encoding/csv reads beyond what it has parsed:
// the size of the bufio.Reader it puts around the tape.
const csvReadAhead = 4096

// longRow reads the rest of a row that went over the limit, as
// encoding/csv would have read it, without keeping it, and starts a new
// csv.Reader after it.
func (c *csvReader) longRow(start int64) (Item, error) {
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

// csvReason says what encoding/csv found wrong, in a user's words.
func csvReason(err error) string {
	switch {
	case errors.Is(err, csv.ErrBareQuote):
		return `a " inside a value that does not start with a quote (quote the whole value and double the " inside: "a ""b"" c")`
	case errors.Is(err, csv.ErrQuote):
		return `a quoted value has text after its closing " (or a " inside it that is not doubled as "")`
	case errors.Is(err, csv.ErrFieldCount):
		return "wrong number of columns"
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// tape keeps the bytes read through it from an input offset on, so that a
// bad row's original text can be recovered. It holds the current row and
// what the CSV reader has buffered beyond it, and refuses to read more
// than limit: the row is too long then.
type tape struct {
	r     *bufio.Reader
	buf   []byte
	base  int64 // input offset of buf[0]
	next  int64 // input offset of the next byte Read returns
	lines int64 // line ends before base
	eof   bool  // r is at its end

	limit   int64 // Read returns errRowTooLong rather than go past it
	tripped bool  // it did
}

var errRowTooLong = errors.New("row too long")

func (t *tape) Read(p []byte) (int, error) {
	if end := t.base + int64(len(t.buf)); t.next < end { // after a long row: what was read beyond it
		n := copy(p, t.buf[t.next-t.base:])
		t.next += int64(n)
		return n, nil
	}
	if t.limit > 0 {
		room := t.limit - t.next
		if room <= 0 {
			t.tripped = true
			return 0, errRowTooLong
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
func (t *tape) forget(off int64) {
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
func (t *tape) linesBefore(off int64) int64 {
	return t.lines + int64(bytes.Count(t.buf[:off-t.base], []byte("\n")))
}

// rowStart returns the offset of the row starting at or after from, past
// the blank lines the CSV reader skips.
func (t *tape) rowStart(from int64) int64 {
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
func (t *tape) rewind(off int64) {
	t.next, t.limit, t.tripped = off, 0, false
}

// skip reads on from input offset off (the end of the buffer) until sc
// finds the row's end, keeping only what comes after it, and returns the
// row's end.
func (t *tape) skip(off int64, sc *rowScan) (int64, error) {
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
func (t *tape) text(from, to int64) string {
	to = min(to, t.base+int64(len(t.buf)))
	from = min(t.rowStart(from), to)
	b := trimEOL(t.buf[from-t.base : to-t.base])
	return string(b[:min(len(b), MaxRaw)])
}

// lastLineLen is the length of the last line of the input from offset
// from to offset to, without its line ending.
func (t *tape) lastLineLen(from, to int64) int {
	b := trimEOL(t.buf[from-t.base : to-t.base])
	return len(b) - (bytes.LastIndexByte(b, '\n') + 1)
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// rowScan finds where a CSV row ends, as encoding/csv (without LazyQuotes)
// reads it: at a line end outside quotes, or at the end of the line on
// which a quote is broken. Blank lines before the row are skipped.
type rowScan struct {
	state      scanState
	blank      int64 // bytes of blank lines before the row
	blankLines int64 // and their number
	lines      int64 // line ends inside the row, its own included
	ended      bool  // the row ended (not the input)
	lastNL     bool  // the last byte of the row read is a line end
}

type scanState int

const (
	scanLine    scanState = iota // at the start of a line, no row begun
	scanLineCR                   // a \r there
	scanField                    // at the start of a field
	scanBare                     // in an unquoted field
	scanQuoted                   // in a quoted field
	scanQuote                    // a " in a quoted field: doubled, or its end
	scanQuoteCR                  // a "\r
	scanBroken                   // a broken quote: the row ends with the line
)

func (s *rowScan) quoted() bool { return s.state == scanQuoted || s.state == scanQuote }

// feed scans b and returns how much of it belongs to the row (and the
// blank lines before it), and whether the row ended there.
func (s *rowScan) feed(b []byte) (int, bool) {
	for i, c := range b {
		switch s.state {
		case scanLine:
			switch c {
			case '\n':
				s.blank++
				s.blankLines++
				continue
			case '\r':
				s.state = scanLineCR
				continue
			}
			s.state = scanField
		case scanLineCR:
			if c == '\n' {
				s.blank += 2
				s.blankLines++
				s.state = scanLine
				continue
			}
			s.state = scanBare // the \r was the row's first byte
		}
		switch s.state {
		case scanField:
			switch c {
			case '"':
				s.state = scanQuoted
			case ',':
			case '\n':
				return s.end(i)
			default:
				s.state = scanBare
			}
		case scanBare:
			switch c {
			case ',':
				s.state = scanField
			case '"':
				s.state = scanBroken
			case '\n':
				return s.end(i)
			}
		case scanQuoted:
			switch c {
			case '"':
				s.state = scanQuote
			case '\n':
				s.lines++
			}
		case scanQuote:
			switch c {
			case '"':
				s.state = scanQuoted
			case ',':
				s.state = scanField
			case '\r':
				s.state = scanQuoteCR
			case '\n':
				return s.end(i)
			default:
				s.state = scanBroken
			}
		case scanQuoteCR:
			if c == '\n' {
				return s.end(i)
			}
			s.state = scanBroken
		case scanBroken:
			if c == '\n' {
				return s.end(i)
			}
		}
	}
	if len(b) > 0 {
		s.lastNL = b[len(b)-1] == '\n'
	}
	return len(b), false
}

func (s *rowScan) end(i int) (int, bool) {
	s.lines++
	s.ended, s.lastNL = true, true
	return i + 1, true
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
