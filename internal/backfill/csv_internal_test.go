package backfill

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"crmsync/internal/jobs"
)

var csvSeeds = []string{
	"email,first_name\nann@example.com,\"Ann\ndan@example.com,Dan\neve@example.com,Eve\n",
	"email,first_name\nbob@example.com,Bob\n\n\r\ncy@example.com,C\"y\nann@example.com,\"Ann\"x\nd@example.com,\"a\r\nb\"\r\ne@x.com,\"\"\"\"\n",
	"a,b\n\"x\"\r\n\"y\"\rz\n\r\r\n\"q\",\"r\"\n\"unterminated\nmore\nlines",
	"a\n\"\"\n\",\"\n\r\"\n\"\"\"\n",
	"email,n\n" + strings.Repeat("x@example.com,"+strings.Repeat("y", 40)+"\n", 3) + "z@example.com,\"" + strings.Repeat("long\n", 30) + "\"\nlast@example.com,L\n",
}

// csvBoundaries returns the input offsets at which encoding/csv ends each
// record of in.
func csvBoundaries(in string) []int64 {
	r := csv.NewReader(strings.NewReader(in))
	r.FieldsPerRecord = -1
	var out []int64
	for {
		_, err := r.Read()
		if err == io.EOF {
			return out
		}
		out = append(out, r.InputOffset())
	}
}

// scanBoundaries returns where rowScan ends each row of in.
func scanBoundaries(in string) []int64 {
	var out []int64
	off := 0
	for off < len(in) {
		var sc rowScan
		n, _ := sc.feed([]byte(in[off:]))
		if sc.state <= scanLineCR && !sc.ended { // only blank lines left
			break
		}
		off += n
		out = append(out, int64(off))
	}
	return out
}

// rowScan ends every row where encoding/csv does: it is what finds the end
// of a row too long to hand to encoding/csv.
func FuzzRowScanMatchesEncodingCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		want, got := csvBoundaries(in), scanBoundaries(in)
		if !slices.Equal(want, got) {
			t.Fatalf("rows end at %v, encoding/csv ends them at %v; input %q", got, want, in)
		}
	})
}

type row struct {
	line   int64
	item   string // "" for a bad row
	raw    string
	reason string
}

func readRows(t *testing.T, in string, limit int64) ([]row, error) {
	t.Helper()
	spec := Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy}.WithDefaults()
	r, err := newCSVReader(strings.NewReader(in), spec, int(limit))
	if err != nil {
		return nil, err
	}
	var out []row
	for {
		it, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			out = append(out, row{line: re.Line, raw: re.Raw, reason: re.Reason})
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, row{line: it.Line, item: string(it.JSON)})
	}
}

// A row over the limit is a bad row, and the rows after it are read as
// they are without the limit: same lines, same items.
func FuzzCSVLimitKeepsTheRowsAfter(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s, uint8(20))
	}
	f.Fuzz(func(t *testing.T, in string, limit uint8) {
		lim := int64(limit%64) + 8
		all, err := readRows(t, in, 1<<30)
		if err != nil {
			return
		}
		if i := strings.IndexByte(in, '\n'); i >= 0 { // the header fits
			lim += int64(i + 1)
		} else {
			lim += int64(len(in))
		}
		got, err := readRows(t, in, lim)
		if err != nil {
			t.Fatalf("header under limit %d: %v", lim, err)
		}
		if len(got) != len(all) {
			t.Fatalf("limit %d: %d rows, want %d\n%v\n%v", lim, len(got), len(all), got, all)
		}
		for i := range got {
			if got[i].line != all[i].line {
				t.Fatalf("limit %d: row %d at line %d, want %d\n%v\n%v", lim, i, got[i].line, all[i].line, got, all)
			}
			if got[i].item != "" && got[i].item != all[i].item {
				t.Fatalf("limit %d: row %d is %q, want %q", lim, i, got[i].item, all[i].item)
			}
			if int64(len(got[i].raw)) > max(lim, MaxRaw) {
				t.Fatalf("raw of %d bytes", len(got[i].raw))
			}
		}
	})
}

// An unterminated quote in a large input takes a row's limit of memory,
// not the input's: the rest is read without being kept, and the reject
// keeps MaxRaw bytes of it and names the lines it swallowed.
func TestCSVUnterminatedQuoteIsBounded(t *testing.T) {
	t.Parallel()
	const rows = 200_000
	in := "email,first_name\nbob@example.com,Bob\nann@example.com,\"Ann\n" + strings.Repeat("dan@example.com,Dan\n", rows)
	got, err := readRows(t, in, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].item == "" || got[1].item != "" || got[1].line != 3 || len(got[1].raw) != MaxRaw {
		t.Fatalf("rows: %d, first %+v, raw %d bytes", len(got), got[0], len(got[1].raw))
	}
	if want := "unterminated quote starting at line 3 swallows lines 3-200003 (the rest of the input)"; !strings.Contains(got[1].reason, want) {
		t.Errorf("reason %q, want %q", got[1].reason, want)
	}
	// A long row that ends is one bad row; the next rows are read.
	in = "email,first_name\nann@example.com,\"" + strings.Repeat("x\n", 1<<20) + "\"\nbob@example.com,Bob\n"
	if got, err = readRows(t, in, 1<<20); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].item != "" || got[1].line != 1<<20+3 || got[1].item == "" {
		t.Fatalf("rows %d: %+v", len(got), got[len(got)-1])
	}
	if want := "row is longer than 1,048,576 bytes (lines 2-1048578)"; got[0].reason != want {
		t.Errorf("reason %q, want %q", got[0].reason, want)
	}
}

// BenchmarkCSVUnclosedQuote reads a 400 MB CSV (from a small .gz) whose
// third line opens a quote that is never closed, and reports the
// process's peak RSS (VmHWM; run it alone:
// go test -run '^$' -bench UnclosedQuote ./internal/backfill/).
func BenchmarkCSVUnclosedQuote(b *testing.B) {
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
	io.WriteString(zw, "email,first_name\nbob@example.com,Bob\nann@example.com,\"Ann\n")
	line := bytes.Repeat([]byte("dan@example.com,Dan\n"), 1000)
	for range 20_000 { // 400 MB
		zw.Write(line)
	}
	zw.Close()
	spec := Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy}.WithDefaults()
	b.SetBytes(400e6)
	for b.Loop() {
		zr, err := gzip.NewReader(bytes.NewReader(zb.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		r, err := NewCSVReader(zr, spec)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
	}
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			var kb float64
			if _, err := fmt.Sscanf(l, "VmHWM: %f kB", &kb); err == nil {
				b.ReportMetric(kb/1024, "MB-peak-RSS")
			}
		}
	}
}

// badValueAsBefore is badValue before its one-pass rewrite.
func badValueAsBefore(col, v string) string {
	if !utf8.ValidString(v) {
		return fmt.Sprintf("column %q is not valid UTF-8", col)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return fmt.Sprintf("column %q contains control characters", col)
		}
	}
	if len(v) > 10000 {
		return fmt.Sprintf("column %q is longer than 10,000 characters", col)
	}
	return ""
}

func FuzzBadValue(f *testing.F) {
	for _, s := range []string{"", "Ann", "a\tb\r\n", "\x01", "\x7f", "\u0085", "\xff", "\x01\xff", "ü", strings.Repeat("x", 10001), strings.Repeat("x", 10001) + "\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := badValue("c", v), badValueAsBefore("c", v); got != want {
			t.Fatalf("badValue(%q) = %q, want %q", v, got, want)
		}
	})
}

func TestJobIDAsSprintf(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 9, 10, 99999, 999999, 1000000, 12345678} {
		if got, want := JobID("bf", n), fmt.Sprintf("%s-%06d", "bf", n); got != want || jobIDLen("bf", n) != len(want) {
			t.Errorf("JobID(bf, %d) = %q (len %d), want %q", n, got, jobIDLen("bf", n), want)
		}
	}
}

// The CSV reader that reads rows itself answers as the one that ran
// encoding/csv over all of the input: same rows, lines, items, reasons,
// raw text and fields.
func FuzzCSVAsEncodingCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s)
	}
	f.Add("email,first_name,tags\n\"a@example.com\",\"Ann, Lee\",\"x;1\"\nb@example.com,B,\n\r\n\n\"\"\r\nc@example.com,\"C\r\nD\",\"\"\"q\"\"\"\r\n")
	f.Add("\"email\",\"x\"\r\n\"a@example.com\",\"1\"\r\n\"b@example.com\",\"2\"")
	f.Add("email\na@example.com\r")
	f.Add("email,x\na@example.com,\"y\"\"")
	f.Fuzz(func(t *testing.T, in string) {
		for _, spec := range []Spec{{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy}, {Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp}} {
			spec = spec.WithDefaults()
			nr, nerr := newCSVReader(strings.NewReader(in), spec, 1<<30)
			or, oerr := newOldCSVReader(strings.NewReader(in), spec, 1<<30)
			var a, b []csvOut
			if nerr != nil {
				a = readCSVOut(nil, nerr)
			} else {
				a = readCSVOut(nr, nil)
			}
			if oerr != nil {
				b = readCSVOut(nil, oerr)
			} else {
				b = readCSVOut(or, nil)
			}
			if fmt.Sprintf("%#v", a) != fmt.Sprintf("%#v", b) {
				t.Fatalf("input %q\nnew: %#v\nold: %#v", in, a, b)
			}
		}
	})
}
