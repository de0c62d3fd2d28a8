package backfill

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"crmsync/internal/jobs"
)

// failingReader returns the first at bytes of data, then an error, as a
// disk failing under a read does.
type failingReader struct {
	data string
	at   int
}

var errDisk = errors.New("disk on fire (test)")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.at <= 0 {
		return 0, errDisk
	}
	n := copy(p, r.data[:min(len(r.data), r.at)])
	r.data, r.at = r.data[n:], r.at-n
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// manyRows is a CSV of n rows, every seventh bad (no email), every
// thirteenth quoted over two lines, so rows and bad rows cross batches.
func manyRows(n int) string {
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := range n {
		switch {
		case i%7 == 3:
			fmt.Fprintf(&b, "not-an-email-%d,X\n", i)
		case i%13 == 5:
			fmt.Fprintf(&b, "r%d@example.com,\"two\nlines\"\n", i)
		default:
			fmt.Fprintf(&b, "r%d@example.com,N%d\n", i, i)
		}
	}
	return b.String()
}

// readBoth reads in (failing after failAt bytes when failAt >= 0) with
// Next reading and with the rows read ahead.
func readBoth(t *testing.T, in string, failAt int) (plain, ahead []csvOut) {
	t.Helper()
	spec := Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp}.WithDefaults()
	src := func() io.Reader {
		if failAt >= 0 {
			return &failingReader{data: in, at: failAt}
		}
		return strings.NewReader(in)
	}
	pr, perr := newCSVReader(src(), spec, 1<<30)
	plain = readCSVOut(pr, perr)
	ar, aerr := newCSVReader(src(), spec, 1<<30)
	if aerr != nil {
		return plain, readCSVOut(nil, aerr)
	}
	stop := ar.readAhead()
	defer stopWithin(t, stop)
	return plain, readCSVOut(ar, nil)
}

// stopWithin fails t when stop does not return within 10 s.
func stopWithin(t *testing.T, stop func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the read-ahead did not stop within 10s")
	}
}

// Reading ahead changes nothing a caller sees: the same items, bad rows,
// lines and final error, in the same order, also across batches and when
// the input fails part-way.
func TestReadAheadMatchesNext(t *testing.T) {
	big := manyRows(3*readAheadRows + 17)
	cases := []struct {
		name   string
		in     string
		failAt int
	}{
		{"empty", "", -1},
		{"header only", "email\n", -1},
		{"batches", big, -1},
		{"fails in the second batch", big, len(big) / 2},
		{"fails in the header", big, 3},
	}
	for i, s := range csvSeeds {
		cases = append(cases, struct {
			name   string
			in     string
			failAt int
		}{fmt.Sprintf("seed %d", i), s, -1})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plain, ahead := readBoth(t, tc.in, tc.failAt)
			if a, b := fmt.Sprintf("%#v", ahead), fmt.Sprintf("%#v", plain); a != b {
				t.Fatalf("read ahead: %.2000s\nNext:      %.2000s", a, b)
			}
		})
	}
	plain, _ := readBoth(t, big, -1)
	if len(plain) != 3*readAheadRows+17 {
		t.Fatalf("%d rows read, want %d: the test input is not what it says", len(plain), 3*readAheadRows+17)
	}
}

func FuzzReadAheadMatchesNext(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s, -1)
	}
	f.Add(manyRows(readAheadRows+1), 4000)
	f.Fuzz(func(t *testing.T, in string, failAt int) {
		plain, ahead := readBoth(t, in, max(failAt, -1))
		if a, b := fmt.Sprintf("%#v", ahead), fmt.Sprintf("%#v", plain); a != b {
			t.Fatalf("input %q failing at %d\nread ahead: %s\nNext:       %s", in, failAt, a, b)
		}
	})
}

// A caller that stops part-way (a publish failure, an interrupt) stops the
// read-ahead: stop returns, and no goroutine is left (goleak, TestMain).
func TestReadAheadStopsPartWay(t *testing.T) {
	spec := Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy}.WithDefaults()
	r, err := newCSVReader(strings.NewReader(manyRows(10*readAheadRows)), spec, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	stop := r.readAhead()
	for range 10 {
		if _, err := r.Next(); err != nil && !asType(err, new(*RowError)) {
			t.Fatalf("Next: %v", err)
		}
	}
	stopWithin(t, stop)
	stop() // again: a no-op
}
