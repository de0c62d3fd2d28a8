package backfill_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"crmsync/internal/backfill"
)

// readAll reads every row of r: the lines of the good rows, and the bad
// rows.
func readAll(t *testing.T, r backfill.Reader) (good []int64, bad []*backfill.RowError) {
	t.Helper()
	for {
		it, err := r.Next()
		if err == io.EOF {
			return good, bad
		}
		var re *backfill.RowError
		if errors.As(err, &re) {
			bad = append(bad, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		good = append(good, it.Line)
	}
}

// TestCSVLosesNoRow checks, over malformed inputs, that every data line is
// in exactly one good row or one bad row, and that a row whose quotes are
// broken keeps its original text (all of its lines) for the rejects file.
func TestCSVLosesNoRow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in   string
		good, bad  int
		wantReason string
	}{
		{name: "unterminated quote swallows the rest", good: 0, bad: 1,
			in:         "email,first_name\nann@example.com,\"Ann\ndan@example.com,Dan\neve@example.com,Eve\n",
			wantReason: "unterminated quote starting at line 2 swallows lines 2-4"},
		{name: "unterminated quote after good rows", good: 2, bad: 1,
			in:         "email,first_name\nbob@example.com,Bob\ncy@example.com,Cy\nann@example.com,\"Ann\ndan@example.com,Dan\r\neve@example.com,Eve",
			wantReason: "unterminated quote starting at line 4 swallows lines 4-6"},
		{name: "bare quote", good: 2, bad: 1,
			in: "email,first_name\nann@example.com,A\"nn\ndan@example.com,Dan\neve@example.com,Eve\n"},
		{name: "text after closing quote", good: 2, bad: 1,
			in: "email,first_name\nann@example.com,\"Ann\"x\ndan@example.com,Dan\neve@example.com,Eve\n"},
		{name: "multi-line field then text after quote", good: 2, bad: 1,
			in: "email,first_name\nann@example.com,\"A\nnn\"x\ndan@example.com,Dan\neve@example.com,Eve\n"},
		{name: "every kind of bad row", good: 2, bad: 5,
			in: "email,first_name\n" +
				"a\"b@example.com,A\n" + // bare quote in the first field
				"too@example.com,many,columns\n" +
				"bad,email\n" +
				"\"q@example.com\",\"Q\"\"\"z\n" +
				"ok@example.com,\"Ok\n\"\n" + // good, two lines
				"u@example.com,\xff\n" +
				"last@example.com,Last\n"},
		{name: "blank lines around a bad row", good: 2, bad: 1,
			in: "email,first_name\nann@example.com,Ann\n\nbad@example.com,B\"\n\neve@example.com,Eve\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := backfill.NewCSVReader(strings.NewReader(tc.in), ktSpec)
			if err != nil {
				t.Fatal(err)
			}
			good, bad := readAll(t, r)
			if len(good) != tc.good || len(bad) != tc.bad {
				t.Fatalf("%d good rows, %d bad; want %d and %d (bad: %v)", len(good), len(bad), tc.good, tc.bad, bad)
			}
			lines := strings.Split(strings.TrimSuffix(tc.in, "\n"), "\n")
			covered := make([]int, len(lines)+1)
			for _, l := range good {
				covered[l]++
			}
			for _, b := range bad {
				span := int64(1)
				if b.Fields == nil {
					// The original text of the row's lines, as read.
					span = int64(strings.Count(b.Raw, "\n") + 1)
					if want := strings.Join(lines[b.Line-1:b.Line-1+span], "\n"); strings.TrimSuffix(b.Raw, "\r") != strings.TrimSuffix(want, "\r") {
						t.Errorf("line %d: raw %q, want the original text %q", b.Line, b.Raw, want)
					}
				}
				for l := b.Line; l < b.Line+span; l++ {
					covered[l]++
				}
				if strings.Contains(b.Reason, "quote") && b.Fields != nil {
					t.Errorf("line %d: a row with a broken quote keeps the fields as parsed (%q), not its original text", b.Line, b.Fields)
				}
				if tc.wantReason != "" && !strings.Contains(b.Reason, tc.wantReason) {
					t.Errorf("reason %q lacks %q", b.Reason, tc.wantReason)
				}
			}
			// The good multi-line row covers its second line too.
			for l := 2; l <= len(lines); l++ {
				if lines[l-1] == "" || lines[l-1] == "\"" {
					continue // blank lines are skipped; a quoted field's closing line
				}
				if covered[l] != 1 {
					t.Errorf("line %d (%q) is in %d rows, want 1", l, lines[l-1], covered[l])
				}
			}
		})
	}
}

func TestBOMIsSkipped(t *testing.T) {
	t.Parallel()
	const bom = "\ufeff"
	for _, tc := range []struct {
		name string
		r    backfill.Reader
	}{
		{"text", backfill.NewTextReader(strings.NewReader(bom+"a@example.com\nb@example.com\n"), valSpec)},
		{"jsonl", backfill.NewJSONLReader(strings.NewReader(bom+`{"email":"a@example.com"}`+"\n"+`{"email":"b@example.com"}`+"\n"), ktSpec)},
		{"jsonl validate", backfill.NewJSONLReader(strings.NewReader(bom+`"a@example.com"`+"\n"+`"b@example.com"`+"\n"), valSpec)},
		{"csv", must(backfill.NewCSVReader(strings.NewReader(bom+"email\na@example.com\nb@example.com\n"), ktSpec))},
	} {
		items, _ := drain(t, tc.r)
		if len(items) > 0 && strings.Contains(items[0], bom) {
			t.Errorf("%s: item %s keeps the BOM", tc.name, items[0])
		}
	}
	for _, tc := range []struct {
		name string
		r    backfill.Reader
	}{
		{"text", backfill.NewTextReader(strings.NewReader(bom+"a@example.com\nb@example.com\n"), valSpec)},
		{"jsonl", backfill.NewJSONLReader(strings.NewReader(bom+`{"email":"a@example.com"}`+"\n"+`{"email":"b@example.com"}`+"\n"), ktSpec)},
		{"csv", must(backfill.NewCSVReader(strings.NewReader(bom+"email\na@example.com\nb@example.com\n"), ktSpec))},
	} {
		good, bad := readAll(t, tc.r)
		if len(good) != 2 || len(bad) != 0 || good[0] != 2-boolInt(tc.name != "csv") {
			t.Errorf("%s: good rows at %v, bad %v", tc.name, good, bad)
		}
	}
	r, _ := backfill.NewCSVReader(strings.NewReader(bom+"Email,x\n"), ktSpec)
	if h := r.(interface{ Header() []string }).Header(); h[0] != "Email" {
		t.Errorf("header %q keeps the BOM", h)
	}
}

func must(r backfill.Reader, err error) backfill.Reader {
	if err != nil {
		panic(err)
	}
	return r
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestValidateEmailColumn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		m      map[string]string
	}{
		{"email", nil}, {"E-Mail", nil}, {"email_address", nil}, {"Email Address", nil}, {"mail", map[string]string{"MAIL": "email"}},
	} {
		spec := valSpec
		spec.Map = tc.m
		if err := spec.Validate(); err != nil {
			t.Errorf("%s: %v", tc.header, err)
			continue
		}
		r, err := backfill.NewCSVReader(strings.NewReader("name,"+tc.header+"\nAnn,a@example.com\n"), spec)
		if err != nil {
			t.Errorf("%s: %v", tc.header, err)
			continue
		}
		if good, bad := readAll(t, r); len(good) != 1 || len(bad) != 0 {
			t.Errorf("%s: good %v bad %v", tc.header, good, bad)
		}
	}
	spec := valSpec
	spec.Map = map[string]string{"name": "fieldFirstName"}
	if err := spec.Validate(); err == nil {
		t.Error("validate accepts -map to a field it does not use")
	}
}
