package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is an embedded JetStream server and a temp dir for one test.
type env struct {
	srv *brokertest.Server
	js  jetstream.JetStream
	dir string
	now func() time.Time // Main.Now; nil for time.Now
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{srv: brokertest.Start(t), dir: t.TempDir()}
	_, e.js = e.srv.Connect(t)
	return e
}

// run runs enqueue with args against e's server and returns its exit
// status, stdout and stderr.
func (e *env) run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Environ: []string{"NATS_URL=" + e.srv.URL()}, ProgressEvery: time.Hour, Now: e.now}
	code := m.Run(context.Background(), args)
	t.Logf("enqueue %s -> %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// write creates a file in e's dir; a name ending in .gz is gzipped.
func (e *env) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	data := []byte(content)
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jobsIn decodes every job in CRMSYNC_JOBS (no worker runs), checking each
// against the worker's own decoder and that Nats-Msg-Id is the job id.
func (e *env) jobsIn(t *testing.T) []*jobs.Job {
	t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jobs.Job
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		j, err := jobs.Decode(m.Subject, m.Data, jobs.Limits{})
		if err != nil {
			t.Fatalf("job %d does not decode: %v\n%s", seq, err, m.Data)
		}
		if id := m.Header.Get(jobs.HeaderMsgID); id != j.ID {
			t.Errorf("Nats-Msg-Id %q, job id %q", id, j.ID)
		}
		out = append(out, j)
	}
	return out
}

func emails(js []*jobs.Job) []string {
	var out []string
	for _, j := range js {
		for i := 0; i < j.Items(); i++ {
			out = append(out, j.ItemEmail(i))
		}
	}
	return out
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestContactsCSVMapsColumnsAndBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "contacts.csv", "Email,First Name,last_name,city,tags,fieldCustom1,notes\n"+
		"ann@example.com,Ann,Lee,Berlin,vip;17,x,\n"+
		"bob@example.com,Bob,,,,,\n"+
		"cy@example.com,Cy,Wu,,,,ignored\n")
	code, out, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-list", "5", "-tags", "newsletter,42", "-map", "notes=-", "-batch", "2", "-id", "crm1", p)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	js := e.jobsIn(t)
	if len(js) != 2 || js[0].ID != "crm1-000001" || js[1].ID != "crm1-000002" || js[0].Items() != 2 || js[1].Items() != 1 {
		t.Fatalf("jobs: %+v", js)
	}
	c := js[0].Contacts[0]
	if c.Email != "ann@example.com" || c.Fields["fieldFirstName"] != "Ann" || c.Fields["fieldLastName"] != "Lee" ||
		c.Fields["fieldCity"] != "Berlin" || c.Fields["fieldCustom1"] != "x" || c.ListID != 5 {
		t.Errorf("contact %+v", c)
	}
	want := []jobs.TagRef{{Name: "newsletter"}, {ID: 42}, {Name: "vip"}, {ID: 17}}
	if len(c.Tags) != 4 || c.Tags[0] != want[0] || c.Tags[1] != want[1] || c.Tags[2] != want[2] || c.Tags[3] != want[3] {
		t.Errorf("tags %+v, want %+v", c.Tags, want)
	}
	if len(js[0].Contacts[1].Fields) != 1 {
		t.Errorf("empty cells must be left out: %+v", js[0].Contacts[1].Fields)
	}
	if !strings.Contains(out, "2 enqueued, 0 already enqueued") {
		t.Errorf("summary: %s", out)
	}
	if _, err := os.Stat(p + ".rejects.csv"); !os.IsNotExist(err) {
		t.Errorf("rejects file without rejects: %v", err)
	}
}

func TestKlipyColumnsPassThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "people.csv", "email,first_name,last_name,title,phone,company\nann@example.com,Ann,Lee,CTO,+49 1,Acme\n")
	if code, _, _ := e.run(t, "", "contacts", "-target", "klipy", "-id", "k", p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	got, err := e.jobsIn(t)[0].Contacts[0].Person()
	if err != nil {
		t.Fatalf("Person: %v", err)
	}
	want := map[string]any{"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "title": "CTO", "phone": "+49 1", "company": "Acme"}
	if len(got) != len(want) {
		t.Fatalf("person %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestEveryFormat(t *testing.T) {
	t.Parallel()
	csvData := "email,first_name\na@example.com,A\nb@example.com,B\n"
	jsonl := `{"email":"a@example.com","fields":{"fieldFirstName":"A"}}` + "\n\n" + `{"email":"b@example.com","tags":["x",3]}` + "\n"
	txt := "# emails\na@example.com\n\n  b@example.com  \r\n"
	for _, tc := range []struct {
		name, file, content, stdin string
		args                       []string
	}{
		{name: "csv", file: "c.csv", content: csvData},
		{name: "csv.gz", file: "c.csv.gz", content: csvData},
		{name: "jsonl", file: "c.jsonl", content: jsonl},
		{name: "ndjson.gz", file: "c.ndjson.gz", content: jsonl},
		{name: "txt", file: "c.txt", content: txt},
		{name: "format override", file: "c.data", content: jsonl, args: []string{"-format", "jsonl"}},
		{name: "stdin csv", stdin: csvData},
		{name: "stdin jsonl", stdin: jsonl, args: []string{"-format", "jsonl"}},
		{name: "stdin gz", stdin: gz(csvData)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			args := append([]string{"contacts", "-target", "klicktipp", "-id", "f"}, tc.args...)
			if tc.file != "" {
				args = append(args, e.write(t, tc.file, tc.content))
			} else {
				args = append(args, "-")
			}
			if code, _, _ := e.run(t, tc.stdin, args...); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if got := emails(e.jobsIn(t)); strings.Join(got, " ") != "a@example.com b@example.com" {
				t.Errorf("emails %v", got)
			}
		})
	}
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, s)
	zw.Close()
	return b.String()
}

func TestValidateFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, content string }{
		{"v.txt", "a@uni.example\nb@example.com\n"},
		{"v.csv", "name,email\nA,a@uni.example\nB,b@example.com\n"},
		{"v.jsonl", "\"a@uni.example\"\n{\"email\":\"b@example.com\"}\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			code, _, _ := e.run(t, "", "validate", "-target-groups", "tg_1,tg_2", "-mode", "all", "-id", "v", e.write(t, tc.file, tc.content))
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			js := e.jobsIn(t)
			if len(js) != 1 || strings.Join(js[0].Emails, " ") != "a@uni.example b@example.com" ||
				strings.Join(js[0].TargetGroupIDs, ",") != "tg_1,tg_2" || js[0].Mode != "all" || js[0].Kind != jobs.KindEmailValidate {
				t.Errorf("job %+v", js)
			}
		})
	}
}

func TestBadRowsGoToRejectsFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "bad.csv", "email,first_name,notes\n"+
		"good@example.com,Good,\n"+ // 2
		",NoEmail,\n"+ // 3
		"not-an-email,Bad,\n"+ // 4
		"x@example.com,Too,many,columns\n"+ // 5
		"u@example.com,Bad\xffUTF8,\n"+ // 6
		"n@example.com,Notes,hello\n"+ // 7
		"\"multi\nline\"@example.com,M,\n"+ // 8-9: quoted newline in the email
		"last@example.com,Last,\n") // 10
	code, out, errOut := e.run(t, "", "contacts", "-target", "klicktipp", "-id", "bad", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if got := emails(e.jobsIn(t)); strings.Join(got, " ") != "good@example.com last@example.com" {
		t.Errorf("published %v", got)
	}
	if !strings.Contains(out, "rejected: 6 rows") || !strings.Contains(errOut, "bad.csv line 3: email is empty") {
		t.Errorf("output:\n%s\n%s", out, errOut)
	}
	rej := readFile(t, p+".rejects.csv")
	for _, want := range []string{
		"line,reason,email,first_name,notes\n",
		"3,email is empty,,NoEmail,\n",
		`4,"email ""not-an-email"" is not a valid address",not-an-email,Bad,`,
		"5,\"row has 4 columns, the header has 3\",x@example.com,Too,many,columns\n",
		"6,\"column \"\"first_name\"\" is not valid UTF-8\",u@example.com,Bad\xffUTF8,\n",
		"7,\"column \"\"notes\"\" is not mapped to a KlickTipp field",
		"\n8,",
	} {
		if !strings.Contains(rej, want) {
			t.Errorf("rejects file lacks %q:\n%s", want, rej)
		}
	}
}

func TestBadLinesJSONLAndText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "bad.jsonl", `{"email":"ok@example.com"}`+"\n"+
		`{"email":"bad@"}`+"\n"+
		`not json`+"\n"+
		`{"fields":{"fieldFirstName":"NoEmail"}}`+"\n"+
		`{"email":"t@example.com","tags":[-1]}`+"\n"+
		"{\"email\":\"u@example.com\",\"x\":\"\xff\"}\n")
	if code, _, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-id", "bj", p); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var lines []int
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, p+".rejects.jsonl")), "\n") {
		var r struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
			Row    string `json:"row"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Reason == "" || r.Row == "" {
			t.Errorf("reject %q: %v", l, err)
		}
		lines = append(lines, r.Line)
	}
	if len(lines) != 5 || lines[0] != 2 || lines[4] != 6 {
		t.Errorf("rejected lines %v, want 2..6", lines)
	}

	tp := e.write(t, "bad.txt", "ok@example.com\nnope\n\nalso bad@example.com\n")
	if code, _, _ := e.run(t, "", "validate", "-offers", "o1", "-id", "bt", tp); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	rej := readFile(t, tp+".rejects.csv")
	if !strings.HasPrefix(rej, "line,reason,row\n2,") || !strings.Contains(rej, "\n4,") {
		t.Errorf("text rejects:\n%s", rej)
	}
}

func TestStrictPublishesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "s.csv", "email\na@example.com\nbad\nb@example.com\n")
	code, _, errOut := e.run(t, "", "contacts", "-target", "klipy", "-strict", p)
	if code != 1 || !strings.Contains(errOut, "nothing published (-strict)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := e.js.Stream(context.Background(), jobs.JobsStream); err == nil {
		if n := len(e.jobsIn(t)); n != 0 {
			t.Errorf("%d jobs published under -strict", n)
		}
	}
	if !strings.Contains(readFile(t, p+".rejects.csv"), "\n3,") {
		t.Error("rejects file lacks line 3")
	}
	// Fixed: -strict publishes all, and stdin works with -strict too.
	code, _, _ = e.run(t, "email\na@example.com\nb@example.com\n", "contacts", "-target", "klipy", "-strict", "-id", "st", "-")
	if code != 0 || len(e.jobsIn(t)) != 1 {
		t.Fatalf("exit %d", code)
	}
}

func TestRerunIsDeduplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := 0; i < 50; i++ {
		b.WriteString("u" + itoa(i) + "@example.com\n")
	}
	p := e.write(t, "r.csv", b.String())
	code, out1, _ := e.run(t, "", "contacts", "-target", "klipy", "-batch", "10", p)
	if code != 0 || !strings.Contains(out1, "5 enqueued, 0 already enqueued") {
		t.Fatalf("first run: %d %s", code, out1)
	}
	code, out2, _ := e.run(t, "", "contacts", "-target", "klipy", "-batch", "10", p)
	if code != 0 || !strings.Contains(out2, "0 enqueued, 5 already enqueued") {
		t.Fatalf("second run: %d %s", code, out2)
	}
	if n := len(e.jobsIn(t)); n != 5 {
		t.Errorf("%d jobs in the stream, want 5", n)
	}
	// The default id is the file name and a hash; other flags make another.
	if !strings.Contains(out1, "backfill r-") {
		t.Errorf("default id: %s", out1)
	}
	_, out3, _ := e.run(t, "", "contacts", "-target", "klipy", "-batch", "25", p)
	if !strings.Contains(out3, "2 enqueued, 0 already enqueued") {
		t.Errorf("other batch size: %s", out3)
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string(rune('0'+i/10)) + string(rune('0'+i%10)))
}

func TestUsageAndConnectionErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "u.csv", "email\na@example.com\n")
	for _, tc := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{args: []string{"contacts", p}, code: 2, want: `-target ""`},
		{args: []string{"contacts", "-target", "klicktipp", filepath.Join(e.dir, "missing.csv")}, code: 2, want: "missing.csv: no such file"},
		{args: []string{"contacts", "-target", "klicktipp", "-"}, code: 2, want: "needs -id"},
		{args: []string{"contacts", "-target", "klicktipp", e.write(t, "x.xls", "")}, code: 2, want: "use -format"},
		{args: []string{"contacts", "-target", "klicktipp", e.write(t, "h.csv", "name\nx\n")}, code: 2, want: "no email column"},
		{args: []string{"validate", p}, code: 2, want: "-target-groups or -offers"},
		{args: []string{"dlq", "purge"}, code: 2, want: "-yes"},
		{args: []string{"contacts", "-target", "klicktipp", p}, env: []string{"NATS_URL=nats://127.0.0.1:1"}, code: 3, want: "cannot reach NATS at nats://127.0.0.1:1"},
		{args: []string{"contacts", "-target", "klicktipp", p}, env: []string{"EMBEDDED_NATS_ADDR=127.0.0.1:1"}, code: 3, want: "embedded server at EMBEDDED_NATS_ADDR=127.0.0.1:1"},
		{args: []string{"status", "x"}, env: []string{"NATS_URL=nats://u:s3cret@127.0.0.1:1"}, code: 3, want: "cannot reach NATS"},
		{args: []string{"status", "x"}, env: []string{"NATS_URL=http://x"}, code: 2, want: "NATS_URL"},
	} {
		var out, errb bytes.Buffer
		environ := tc.env
		if environ == nil {
			environ = []string{"NATS_URL=" + e.srv.URL()}
		}
		m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: environ}
		code := m.Run(context.Background(), tc.args)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
		if strings.Contains(errb.String(), "s3cret") || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 && tc.code == 3 {
			t.Errorf("%v: error is not one line or shows a secret: %q", tc.args, errb.String())
		}
	}
}

// Counts read right: "1 row", "2 rows"; thousands separators the same in
// enqueue's summary and status; a broken quote said in the user's words
// with its line.
func TestCountsAndWordsReadRight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "one.csv", "email\na@example.com\nb\"@example.com\n")
	code, out, errOut := e.run(t, "", "contacts", "-target", "klipy", "-id", "one", p)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"2 rows read from", "1 sent (1 item)", "rejected: 1 row (line"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if want := `one.csv line 3: a " inside a value that does not start with a quote`; !strings.Contains(errOut, want) || strings.Contains(errOut, "non-quoted-field") {
		t.Errorf("stderr lacks %q (and should not say encoding/csv's words):\n%s", want, errOut)
	}
	_, st, _ := e.run(t, "", "status", "one")
	if !strings.Contains(st, "0 of 1 job finished") || !strings.Contains(st, "1 job, 1 item, 1 row rejected") {
		t.Errorf("status:\n%s", st)
	}

	var b strings.Builder
	b.WriteString("email\n")
	for i := range 1234 {
		b.WriteString("u" + strconv.Itoa(i) + "@example.com\n")
	}
	p = e.write(t, "many.csv", b.String())
	if _, out, _ = e.run(t, "", "contacts", "-target", "klipy", "-batch", "1", "-id", "many", p); !strings.Contains(out, "1,234 rows read") || !strings.Contains(out, "1,234 sent (1,234 items)") {
		t.Errorf("summary:\n%s", out)
	}
	if _, st, _ = e.run(t, "", "status", "many"); !strings.Contains(st, "0 of 1,234 jobs finished") || !strings.Contains(st, "1,234 jobs, 1,234 items, 0 rows rejected") || !strings.Contains(st, "1,234 without a result yet") {
		t.Errorf("status:\n%s", st)
	}

	// A job the worker already finished: "1 job has", not "1 jobs have".
	kv, err := jobs.EnsureFinished(context.Background(), e.js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	fin, _ := json.Marshal(jobs.Finish{Status: jobs.StatusSucceeded})
	if _, err := kv.Put(context.Background(), jobs.FinishedKey("done-000001"), fin); err != nil {
		t.Fatal(err)
	}
	p = e.write(t, "done.csv", "email\na@example.com\nb@example.com\n")
	if _, out, _ = e.run(t, "", "contacts", "-target", "klipy", "-batch", "1", "-id", "done", p); !strings.Contains(out, "already done: 1 job has a result from an earlier run") {
		t.Errorf("summary:\n%s", out)
	}

	// The embedded server's address is not there: asked once if it runs.
	_, _, errOut = (&env{srv: e.srv, dir: e.dir}).runEnviron(t, []string{"EMBEDDED_NATS_ADDR=127.0.0.1:1"}, "status", "x")
	if n := strings.Count(errOut, "running?"); n != 1 {
		t.Errorf("asks %d times whether NATS runs: %s", n, errOut)
	}
}

// runEnviron runs enqueue with environ instead of e's NATS_URL.
func (e *env) runEnviron(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: environ, ProgressEvery: time.Hour}
	code := m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}
