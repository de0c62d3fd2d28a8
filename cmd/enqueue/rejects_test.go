package main

import (
	"encoding/csv"
	"os"
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
