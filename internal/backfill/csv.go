package backfill

import (
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
	enc    *encoder
	header []string
}

// NewCSVReader reads CSV from r: the first row names the columns (one must
// be the email, see DefaultColumns and Spec.Map). A header problem is a
// *UsageError.
func NewCSVReader(r io.Reader, spec Spec) (Reader, error) {
	cr := csv.NewReader(r)
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
	return &csvReader{r: cr, enc: enc, header: header}, nil
}

// Header returns the header row.
func (c *csvReader) Header() []string { return c.header }

func (c *csvReader) Next() (Item, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return Item{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return Item{}, err
		}
		line := pe.StartLine
		reason := pe.Err.Error()
		if errors.Is(err, csv.ErrFieldCount) {
			reason = fmt.Sprintf("row has %d columns, the header has %d", len(rec), len(c.header))
		}
		return Item{}, &RowError{Line: int64(line), Reason: reason, Fields: slices.Clone(rec)}
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
