package backfill

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"os"
	"strconv"
	"strings"
)

// RejectsPath is where the bad rows of input go: input + ".rejects.jsonl"
// for JSON Lines, input + ".rejects.csv" otherwise.
func RejectsPath(input string, f Format) string {
	if f == JSONL {
		return input + ".rejects.jsonl"
	}
	return input + ".rejects.csv"
}

// RejectFile writes bad rows to a file created on the first one, mode
// 0600 (it holds the rows' personal data). For CSV and text the columns
// are line, reason, then the row's own fields (CSV, after a header
// line,reason,<input header>) or the line as read, each cell that a
// spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
// carriage return) prefixed with a ' (see Neutralize); for JSON Lines each
// line is {"line","reason","row"}. Not safe for concurrent use.
type RejectFile struct {
	Path   string
	format Format
	header []string
	f      *os.File
	w      *bufio.Writer
	cw     *csv.Writer
	n      int
}

// NewRejectFile prepares path, removing a rejects file left by an earlier
// run of the same input. header is the CSV input's header, if any.
func NewRejectFile(path string, f Format, header []string) (*RejectFile, error) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return &RejectFile{Path: path, format: f, header: header}, nil
}

// Write records one bad row.
func (r *RejectFile) Write(e *RowError) error {
	if r.f == nil {
		f, err := os.OpenFile(r.Path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		r.f, r.w = f, bufio.NewWriterSize(f, 64<<10)
		if r.format != JSONL {
			r.cw = csv.NewWriter(r.w)
			h := []string{"line", "reason"}
			if r.header != nil {
				for _, c := range r.header {
					h = append(h, Neutralize(c))
				}
			} else {
				h = append(h, "row")
			}
			if err := r.cw.Write(h); err != nil {
				return err
			}
		}
	}
	r.n++
	if r.cw != nil {
		rec := []string{strconv.FormatInt(e.Line, 10), e.Reason}
		if e.Fields != nil {
			for _, f := range e.Fields {
				rec = append(rec, Neutralize(f))
			}
		} else {
			rec = append(rec, Neutralize(e.Raw))
		}
		return r.cw.Write(rec)
	}
	b, err := json.Marshal(struct {
		Line   int64  `json:"line"`
		Reason string `json:"reason"`
		Row    string `json:"row"`
	}{e.Line, e.Reason, strings.ToValidUTF8(e.Raw, "\uFFFD")})
	if err != nil {
		return err
	}
	r.w.Write(b)
	return r.w.WriteByte('\n')
}

// Count returns the rows written.
func (r *RejectFile) Count() int { return r.n }

// Close flushes and closes the file, if one was created.
func (r *RejectFile) Close() error {
	if r.f == nil {
		return nil
	}
	if r.cw != nil {
		r.cw.Flush()
		if err := r.cw.Error(); err != nil {
			r.f.Close()
			return err
		}
	}
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}

// Neutralize returns cell with a ' before it when a spreadsheet opening
// the CSV would take it for a formula: when it starts with =, +, -, @, a
// tab or a carriage return (CSV injection). Other cells are returned as
// they are.
func Neutralize(cell string) string {
	if cell != "" && strings.IndexByte("=+-@\t\r", cell[0]) >= 0 {
		return "'" + cell
	}
	return cell
}
