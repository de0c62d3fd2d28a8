package backfill_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

var (
	ktSpec  = backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp, Batch: 3}
	valSpec = backfill.Spec{Kind: jobs.KindEmailValidate, TargetGroupIDs: []string{"tg"}}
)

// drain reads every row: the items' JSON and the bad rows' lines.
func drain(t testing.TB, r backfill.Reader) (items []string, bad []int64) {
	t.Helper()
	for {
		it, err := r.Next()
		if err == io.EOF {
			return items, bad
		}
		var re *backfill.RowError
		if errors.As(err, &re) {
			if re.Line <= 0 || re.Reason == "" {
				t.Fatalf("row error without line or reason: %+v", re)
			}
			bad = append(bad, re.Line)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(it.JSON) {
			t.Fatalf("item is not JSON: %s", it.JSON)
		}
		items = append(items, string(it.JSON))
	}
}

func TestChunkerStaysWithinLimits(t *testing.T) {
	t.Parallel()
	spec := backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy, Batch: 10000, MaxBytes: 4096}
	c := backfill.NewChunker("lim", spec)
	item := []byte(`{"email":"a@example.com","note":"` + strings.Repeat("x", 300) + `"}`)
	var built []*backfill.Job
	for i := 0; i < 100; i++ {
		if j := c.Add(item); j != nil {
			built = append(built, j)
		}
	}
	built = append(built, c.Flush())
	items := 0
	for i, j := range built {
		if len(j.Data) > 4096 {
			t.Errorf("job %d is %d bytes", i, len(j.Data))
		}
		dj, err := jobs.Decode(jobs.KindContactUpsert.Subject(), j.Data, jobs.Limits{MaxBytes: 4096})
		if err != nil || dj.ID != backfill.JobID("lim", i+1) || dj.ID != j.ID {
			t.Fatalf("job %d: %v", i, err)
		}
		items += dj.Items()
	}
	if items != 100 {
		t.Errorf("%d items in jobs, want 100", items)
	}
	huge := []byte(`{"email":"a@example.com","note":"` + strings.Repeat("x", 5000) + `"}`)
	if c.Fits(huge) == "" {
		t.Error("an item larger than a job fits")
	}
}

func TestJobNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, job string
		n       int
		ok      bool
	}{
		{"bf", "bf-000001", 1, true}, {"bf", "bf-1234567", 1234567, true}, {"bf", "bf-x-000001", 0, false},
		{"bf", "bf-00001", 0, false}, {"bf", "bfx-000001", 0, false}, {"bf", "bf-+00001", 0, false},
	} {
		n, ok := backfill.JobNumber(tc.id, tc.job)
		if n != tc.n || ok != tc.ok {
			t.Errorf("JobNumber(%q, %q) = %d, %v", tc.id, tc.job, n, ok)
		}
	}
}

func TestDeriveIDDependsOnContentAndFlags(t *testing.T) {
	t.Parallel()
	id := func(spec backfill.Spec, content string) string {
		s, err := backfill.DeriveID("/x/My Contacts.csv.gz", spec.Fingerprint(backfill.CSV), strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := id(ktSpec, "email\na@example.com\n")
	if !strings.HasPrefix(a, "my-contacts-") || len(a) != len("my-contacts-")+10 {
		t.Errorf("id %q", a)
	}
	if a != id(ktSpec, "email\na@example.com\n") || a == id(ktSpec, "email\nb@example.com\n") {
		t.Error("id must depend on the content only")
	}
	other := ktSpec
	other.Tags = []string{"t"}
	if a == id(other, "email\na@example.com\n") {
		t.Error("id must depend on the flags")
	}
}

func TestNormalizeReason(t *testing.T) {
	t.Parallel()
	if a, b := backfill.NormalizeReason(`email "a@x" is not a valid address`), backfill.NormalizeReason(`email "b@y" is not a valid address`); a != b {
		t.Errorf("%q != %q", a, b)
	}
}

// The fuzz targets check that no input makes a reader panic, loop, or
// produce an item that is not JSON or a bad row without line and reason,
// and that every item decodes as part of a job.

func fuzzReader(t *testing.T, r backfill.Reader, spec backfill.Spec) {
	items, _ := drain(t, r)
	if len(items) == 0 {
		return
	}
	c := backfill.NewChunker("fz", spec)
	var built []*backfill.Job
	for _, it := range items {
		if c.Fits([]byte(it)) != "" {
			continue
		}
		if j := c.Add([]byte(it)); j != nil {
			built = append(built, j)
		}
	}
	if j := c.Flush(); j != nil {
		built = append(built, j)
	}
	for _, j := range built {
		dj, err := jobs.Decode(spec.Kind.Subject(), j.Data, jobs.Limits{})
		if err != nil {
			t.Fatalf("job does not decode: %v\n%s", err, j.Data)
		}
		for i := 0; i < dj.Items(); i++ {
			if err := jobs.CheckEmail(dj.ItemEmail(i)); err != nil {
				t.Fatalf("item %d: %v", i, err)
			}
		}
	}
}

func FuzzCSV(f *testing.F) {
	f.Add("email,first_name,tags,listid\na@example.com,Ann,\"x;1\",5\n")
	f.Add("email\n\"a\"\"b\"@example.com\nbad,extra\n\xff@x.com\n")
	f.Add("\ufeffEmail,notes,fieldCity\nb@example.com,,Berlin\nc@example.com,hi,\n")
	f.Add("name\nx\n")
	f.Fuzz(func(t *testing.T, data string) {
		spec := ktSpec.WithDefaults()
		r, err := backfill.NewCSVReader(strings.NewReader(data), spec)
		if err != nil {
			var ue *backfill.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("header error is not a UsageError: %v", err)
			}
			return
		}
		fuzzReader(t, r, spec)
	})
}

func FuzzJSONL(f *testing.F) {
	f.Add(`{"email":"a@example.com","fields":{"fieldFirstName":"A"},"tags":["x",3],"listid":4}` + "\n\nnot json\n")
	f.Add(`{"email":"a@example.com","tags":[-1]}` + "\n" + `"b@example.com"` + "\n")
	f.Add("{\"email\":\"\xff\"}\n{}\n[]\n")
	f.Fuzz(func(t *testing.T, data string) {
		spec := ktSpec
		spec.Tags, spec.ListID = []string{"extra"}, 7
		fuzzReader(t, backfill.NewJSONLReader(strings.NewReader(data), spec), spec.WithDefaults())
		fuzzReader(t, backfill.NewJSONLReader(strings.NewReader(data), valSpec), valSpec.WithDefaults())
	})
}

func FuzzText(f *testing.F) {
	f.Add("a@example.com\n# comment\n\n  b@example.com \r\nbad\n")
	f.Add("\xff\n" + strings.Repeat("x", 70000) + "\n")
	f.Fuzz(func(t *testing.T, data string) {
		fuzzReader(t, backfill.NewTextReader(strings.NewReader(data), valSpec), valSpec.WithDefaults())
		fuzzReader(t, backfill.NewTextReader(strings.NewReader(data), ktSpec), ktSpec.WithDefaults())
	})
}

func TestLongLinesAreBadRows(t *testing.T) {
	t.Parallel()
	data := "a@example.com\n" + strings.Repeat("x", backfill.MaxLine+10) + "\nb@example.com\n"
	items, bad := drain(t, backfill.NewTextReader(strings.NewReader(data), valSpec))
	if len(items) != 2 || len(bad) != 1 || bad[0] != 2 {
		t.Errorf("items %d, bad %v", len(items), bad)
	}
}

// csvRows builds n rows of a typical contacts export.
func csvRows(n int) []byte {
	var b bytes.Buffer
	b.WriteString("email,first_name,last_name,city\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "user%d@example.com,First%d,Last%d,Berlin\n", i, i, i)
	}
	return b.Bytes()
}

// BenchmarkCSVToJobs measures reading, mapping and chunking (no NATS).
func BenchmarkCSVToJobs(b *testing.B) {
	data := csvRows(100000)
	spec := ktSpec
	spec.Batch = 200
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := backfill.NewCSVReader(bytes.NewReader(data), spec)
		if err != nil {
			b.Fatal(err)
		}
		c := backfill.NewChunker("bench", spec)
		n := 0
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			c.Add(it.JSON)
			n++
		}
		c.Flush()
		if n != 100000 {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkJSONL(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&buf, `{"email":"user%d@example.com","fields":{"fieldFirstName":"F%d"}}`+"\n", i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		drain(b, backfill.NewJSONLReader(bytes.NewReader(data), ktSpec))
	}
}

func BenchmarkText(b *testing.B) {
	var buf bytes.Buffer
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&buf, "user%d@example.com\n", i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		drain(b, backfill.NewTextReader(bytes.NewReader(data), valSpec))
	}
}
