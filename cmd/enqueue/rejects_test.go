package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The rejects file holds personal data: only its owner may read it. A cell
// a spreadsheet would run as a formula is written with a ' before it.
func TestRejectsFileIsPrivateAndInert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "f.csv", "email,first_name,last_name,phone\n"+
		"ok@example.com,Ok,,\n"+
		"=HYPERLINK(\"http://x\"),A,B,\n"+ // 3: a formula as the email
		"not-an-email,+cmd,-2+3,@SUM(A1)\n"+ // 4
		"x@example.com,\"\tTab\",\"\rCR\",x,extra\n") // 5: wrong column count
	if code, _, _ := e.run(t, "", "contacts", "-target", "klipy", "-id", "f", p); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	st, err := os.Stat(p + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("rejects file mode %v, want 0600", mode)
	}
	cr := csv.NewReader(strings.NewReader(readFile(t, p+".rejects.csv")))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("rejects %q", recs)
	}
	for _, r := range recs {
		for i, c := range r[2:] {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("line %s column %d: %q would run as a formula", r[0], i, c)
			}
		}
	}
	if got := recs[2][2:]; strings.Join(got, "|") != "not-an-email|'+cmd|'-2+3|'@SUM(A1)" {
		t.Errorf("line 4 written as %q", got)
	}
	if recs[1][2] != `'=HYPERLINK("http://x"),A,B,` || recs[3][3] != "'\tTab" {
		t.Errorf("rejects %q", recs)
	}
}

// Every bad row of a fixture with many more than the five printed is in
// the rejects file, once, in order, with its own fields; every good row
// is in a job. (A fixture of exactly six bad rows let a "write only the
// first five" bug through by luck.)
func TestEveryBadRowIsInTheRejectsFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type bad struct {
		line   int
		row    string
		reason string
	}
	kinds := []struct{ row, reason string }{
		{",Empty,", "email is empty"},
		{"not-an-email-%d,Bad,", "is not a valid address"},
		{"x%d@example.com,Too,many,columns", "row has 4 columns, the header has 3"},
		{"n%d@example.com,Notes,hello", `column "notes" is not mapped`},
		{"u%d@example.com,Bad\xffUTF8,", "is not valid UTF-8"},
		{"c%d@example.com,Ctl\x01,", "contains control characters"},
	}
	var b strings.Builder
	b.WriteString("email,first_name,notes\n")
	var bads []bad
	var goods []string
	line := 1
	for i := range 120 {
		line++
		if i%3 == 0 {
			g := fmt.Sprintf("good%d@example.com", i)
			goods = append(goods, g)
			b.WriteString(g + ",Good,\n")
			continue
		}
		k := kinds[i%len(kinds)]
		row := k.row
		if strings.Contains(row, "%d") {
			row = fmt.Sprintf(row, i)
		}
		bads = append(bads, bad{line: line, row: row, reason: k.reason})
		b.WriteString(row + "\n")
	}
	p := e.write(t, "many.csv", b.String())
	code, out, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "7", "-id", "many", p)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("rejected: %d rows", len(bads))) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if got := emails(e.jobsIn(t)); strings.Join(got, " ") != strings.Join(goods, " ") {
		t.Errorf("published %d emails %v, want the %d good ones", len(got), got, len(goods))
	}
	cr := csv.NewReader(strings.NewReader(readFile(t, p+".rejects.csv")))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(bads)+1 {
		t.Fatalf("rejects file has %d rows, want %d bad rows and the header", len(recs)-1, len(bads))
	}
	for i, want := range bads {
		r := recs[i+1]
		if r[0] != strconv.Itoa(want.line) || !strings.Contains(r[1], want.reason) || strings.Join(r[2:], ",") != want.row {
			t.Errorf("reject %d: %q; want line %d, a reason with %q and the row %q", i+1, r, want.line, want.reason, want.row)
		}
	}
}
