package backfill

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// csvReader reads CSV with a header row. It reads the rows itself: a
// line without a quote is a row of its own, split at its commas, as
// encoding/csv would split it; a row with a quote is found with rowScan
// (which ends rows where encoding/csv does) and parsed alone by
// encoding/csv, so every answer is encoding/csv's.
type csvReader struct {
	br     *bufio.Reader
	enc    *encoder
	header []string
	limit  int   // the longest row, in bytes: MaxLine
	line   int64 // lines read
	eof    bool

	first, lastLine int64 // the lines of the row read last
	parseErr        error // encoding/csv's error on it, if any

	rec    []byte   // the row being read, when it is not one simple line
	fields []string // the row's fields (reused)
	quoted *bufio.Reader
	src    bytes.Reader

	ahead *readAhead // rows read on a goroutine of their own (readAhead); nil: Next reads
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

func newCSVReader(r io.Reader, spec Spec, limit int) (*csvReader, error) {
	c := &csvReader{br: skipBOM(r), limit: limit, quoted: bufio.NewReaderSize(nil, 64<<10)}
	header, re, err := c.record(0)
	switch {
	case err == io.EOF:
		return nil, usagef("no header row: the input is empty")
	case err != nil:
		return nil, err
	case re != nil && re.Reason == tooLong:
		return nil, usagef("header row is longer than %s bytes", Num(int64(limit)))
	case c.parseErr != nil:
		return nil, usagef("header row: %s", csvReason(c.parseErr))
	case re != nil:
		return nil, usagef("header row: %s", re.Reason)
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
	c.enc, c.header = enc, header
	return c, nil
}

// Header returns the header row.
func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() (Item, error) {
	if c.ahead != nil {
		return c.ahead.next(c)
	}
	rec, line, re, err := c.row()
	if err != nil {
		return Item{}, err
	}
	if re != nil {
		return Item{}, re
	}
	return c.item(rec, line)
}

// row reads the next row: its fields (valid until the next call) and
// first line, or a bad row (a broken or too long one, or a field that is
// not UTF-8), or io.EOF or an *InputError.
func (c *csvReader) row() ([]string, int64, *RowError, error) {
	rec, re, err := c.record(len(c.header))
	if err != nil {
		return nil, 0, nil, err
	}
	if re != nil {
		if re.Reason == tooLong {
			re.Reason = fmt.Sprintf("row is longer than %s bytes", Num(int64(c.limit)))
			if re.Line < c.lastLine {
				re.Reason += fmt.Sprintf(" (lines %d-%d)", re.Line, c.lastLine)
			}
		}
		return nil, 0, re, nil
	}
	for i, f := range rec {
		if !utf8.ValidString(f) {
			return nil, 0, &RowError{Line: c.first, Reason: fmt.Sprintf("column %q is not valid UTF-8", c.header[i]), Fields: slices.Clone(rec)}, nil
		}
	}
	return rec, c.first, nil, nil
}

// item encodes the fields of the row starting at line, or says why it is
// a bad row.
func (c *csvReader) item(rec []string, line int64) (Item, error) {
	b, why := c.enc.encode(rec)
	if why != "" {
		return Item{}, &RowError{Line: line, Reason: why, Fields: slices.Clone(rec)}
	}
	return Item{Line: line, JSON: b}, nil
}

// tooLong marks a RowError for a row over the limit until its reason is
// written.
const tooLong = "\x00too long"

// record reads the next row as encoding/csv with FieldsPerRecord n (0: any)
// would: its fields (valid until the next call), or a bad row, or io.EOF.
// It sets c.first and c.lastLine to the row's first and last lines.
func (c *csvReader) record(n int) ([]string, *RowError, error) {
	var chunk []byte
	var err error
	for { // blank lines are skipped
		if c.eof {
			return nil, nil, io.EOF
		}
		chunk, err = c.br.ReadSlice('\n')
		if err == io.EOF {
			c.eof = true
			if len(chunk) == 0 || len(chunk) == 1 && chunk[0] == '\r' {
				if len(chunk) > 0 {
					c.line++
				}
				return nil, nil, io.EOF
			}
		} else if err != nil && err != bufio.ErrBufferFull {
			return nil, nil, &InputError{Err: err}
		}
		if err == bufio.ErrBufferFull || !isBlank(chunk) {
			break
		}
		c.line++
	}
	c.first, c.parseErr = c.line+1, nil
	if err != bufio.ErrBufferFull && bytes.IndexByte(chunk, '"') < 0 {
		// A line without a quote: a row of its own, split at its commas.
		c.line++
		c.lastLine = c.line
		if len(chunk) > c.limit {
			return nil, &RowError{Line: c.first, Reason: tooLong, Raw: rawOf(trimEOL(chunk, c.eof))}, nil
		}
		c.fields = splitFields(c.fields[:0], string(trimEOL(chunk, c.eof)))
		return c.checkCount(c.fields, n)
	}
	return c.quotedRecord(chunk, err, n)
}

// quotedRecord reads the row that starts with chunk (read with err) to its
// end with rowScan and has encoding/csv parse it.
func (c *csvReader) quotedRecord(chunk []byte, err error, n int) ([]string, *RowError, error) {
	var sc rowScan
	c.rec = c.rec[:0]
	size, long := 0, false
	for {
		sc.feed(chunk) // a row ends only at a line end: the end of a chunk
		size += len(chunk)
		if !long && size > c.limit {
			long = true
		}
		if len(c.rec) < MaxRaw || !long {
			c.rec = append(c.rec, chunk...)
		}
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			c.line++
		} else if err == io.EOF && len(chunk) > 0 {
			c.line++
		}
		if sc.ended || err == io.EOF {
			break
		}
		chunk, err = c.br.ReadSlice('\n')
		if err == io.EOF {
			c.eof = true
		} else if err != nil && err != bufio.ErrBufferFull {
			return nil, nil, &InputError{Err: err}
		}
	}
	c.lastLine = c.line
	unterminated := !sc.ended && sc.state == scanQuoted
	if long {
		re := &RowError{Line: c.first, Reason: tooLong, Raw: rawOf(trimEOL(c.rec, false))}
		if unterminated {
			re.Reason = fmt.Sprintf("unterminated quote starting at line %d swallows lines %d-%d (the rest of the input): a CSV reader cannot tell where the next row starts", c.first, c.first, c.lastLine)
		}
		return nil, re, nil
	}
	c.src.Reset(c.rec)
	c.quoted.Reset(&c.src)
	cr := csv.NewReader(c.quoted)
	cr.FieldsPerRecord = n
	rec, perr := cr.Read()
	if perr == nil {
		l, _ := cr.FieldPos(0)
		c.first += int64(l) - 1
		return rec, nil, nil
	}
	var pe *csv.ParseError
	if !errors.As(perr, &pe) {
		return nil, nil, &InputError{Err: perr}
	}
	c.parseErr = perr
	line := c.first + int64(pe.StartLine) - 1
	if errors.Is(perr, csv.ErrFieldCount) {
		reason := fmt.Sprintf("row has %d columns, the header has %d", len(rec), n)
		return nil, &RowError{Line: line, Reason: reason, Fields: slices.Clone(rec)}, nil
	}
	// A broken quote: the fields read are partial, so keep the lines.
	reason := csvReason(perr)
	last := c.first + int64(pe.Line) - 1
	switch {
	case unterminated:
		reason = fmt.Sprintf("unterminated quote starting at line %d swallows lines %d-%d (the rest of the input): a CSV reader cannot tell where the next row starts", line, line, last)
	case last > line:
		reason = fmt.Sprintf("%s (lines %d-%d)", reason, line, last)
	}
	return nil, &RowError{Line: line, Reason: reason, Raw: rawOf(trimEOL(c.rec, c.eof))}, nil
}

// checkCount returns fields, or a bad row when there are not n of them.
func (c *csvReader) checkCount(fields []string, n int) ([]string, *RowError, error) {
	if n > 0 && len(fields) != n {
		reason := fmt.Sprintf("row has %d columns, the header has %d", len(fields), n)
		return nil, &RowError{Line: c.first, Reason: reason, Fields: slices.Clone(fields)}, nil
	}
	return fields, nil, nil
}

// splitFields appends the comma-separated fields of line (which has no
// quote) to dst.
func splitFields(dst []string, line string) []string {
	for {
		i := strings.IndexByte(line, ',')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

// isBlank reports whether line is a line end alone, which encoding/csv
// skips.
func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// trimEOL returns b without its line end ("\n" or "\r\n"; at the end of
// the input a lone "\r" too, as encoding/csv drops it).
func trimEOL(b []byte, eof bool) []byte {
	switch {
	case bytes.HasSuffix(b, []byte("\r\n")):
		return b[:len(b)-2]
	case bytes.HasSuffix(b, []byte("\n")):
		return b[:len(b)-1]
	case eof && bytes.HasSuffix(b, []byte("\r")):
		return b[:len(b)-1]
	}
	return b
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
