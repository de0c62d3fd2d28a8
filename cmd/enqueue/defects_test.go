package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// An unterminated quote cannot be resynced: the rest of the file is that
// one broken row, rejected with its line range and its original text.
func TestBrokenQuotesAreRejectedWithTheirText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "q.csv", "email,first_name\n"+
		"bob@example.com,Bob\n"+ // 2
		"cy@example.com,C\"y\n"+ // 3: bare quote
		"ann@example.com,\"Ann\n"+ // 4: unterminated quote
		"dan@example.com,Dan\n"+
		"eve@example.com,Eve\n") // 6
	code, out, errOut := e.run(t, "", "contacts", "-target", "klicktipp", "-id", "q", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if got := emails(e.jobsIn(t)); strings.Join(got, " ") != "bob@example.com" {
		t.Errorf("published %v", got)
	}
	if !strings.Contains(out, "rejected: 2 rows") || !strings.Contains(errOut, "q.csv line 4: unterminated quote starting at line 4 swallows lines 4-6") {
		t.Errorf("output:\n%s\n%s", out, errOut)
	}
	cr := csv.NewReader(strings.NewReader(readFile(t, p+".rejects.csv")))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[1][0] != "3" || recs[1][2] != "cy@example.com,C\"y" ||
		recs[2][0] != "4" || recs[2][2] != "ann@example.com,\"Ann\ndan@example.com,Dan\neve@example.com,Eve" {
		t.Errorf("rejects %q", recs)
	}
}

func TestValidateCSVEmailAliasesAndMap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, content string
		args          []string
	}{
		{name: "e-mail", content: "name,e-mail\nA,a@uni.example\n"},
		{name: "email_address", content: "name,Email_Address\nA,a@uni.example\n"},
		{name: "map", content: "name,mail\nA,a@uni.example\n", args: []string{"-map", "mail=email"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			args := append([]string{"validate", "-target-groups", "tg_1", "-id", "v"}, tc.args...)
			if code, _, _ := e.run(t, "", append(args, e.write(t, "v.csv", tc.content))...); code != 0 {
				t.Fatalf("exit %d", code)
			}
			if js := e.jobsIn(t); len(js) != 1 || strings.Join(js[0].Emails, " ") != "a@uni.example" {
				t.Errorf("jobs %+v", js)
			}
		})
	}
	e := newEnv(t)
	code, _, errOut := e.run(t, "", "validate", "-target-groups", "tg_1", "-id", "v", "-map", "name=fieldFirstName", e.write(t, "v.csv", "name,email\nA,a@uni.example\n"))
	if code != 2 || !strings.Contains(errOut, "-map name=fieldFirstName") {
		t.Errorf("validate -map to a field: exit %d, %s", code, errOut)
	}
}

// startServer starts a JetStream server with the given max_payload (a
// default nats-server has 1 MB), shut down when the test ends.
func startServer(t *testing.T, maxPayload int32) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, MaxPayload: maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return srv.ClientURL()
}

// The server's max_payload counts headers too: jobs stay under it, less
// room for the headers, even when WORKER_MAX_JOB_BYTES is larger.
func TestJobsFitTheServersMaxPayload(t *testing.T) {
	t.Parallel()
	const maxPayload = 64 << 10
	url := startServer(t, maxPayload)
	var b strings.Builder
	b.WriteString("email,note\n")
	for i := range 100 {
		b.WriteString("u" + itoa(i) + "@example.com," + strings.Repeat("x", 2000) + "\n")
	}
	p := (&env{dir: t.TempDir()}).write(t, "big.csv", b.String())
	var out, errb strings.Builder
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, ProgressEvery: time.Hour,
		Environ: []string{"NATS_URL=" + url, "WORKER_MAX_JOB_BYTES=1048576"}}
	if code := m.Run(context.Background(), []string{"contacts", "-target", "klipy", "-batch", "200", "-id", "big", p}); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	if info.State.Msgs < 4 {
		t.Errorf("%d jobs for 200 KB of rows under a 64 KiB max_payload", info.State.Msgs)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) > maxPayload-4096 {
			t.Errorf("job %d is %d bytes", seq, len(m.Data))
		}
	}
}

// -wait does not compare this machine's clock with the server's: with the
// clock an hour ahead it still counts a result stored before it began to
// follow the results stream.
func TestWaitWithClockAhead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "c.csv", "email\na@example.com\nb@example.com\n")
	// The job's result is stored when the publish summary is printed: after
	// publishing, before -wait starts reading (as with a fast worker).
	out := &onWrite{fn: func() {
		r := jobs.Result{ID: "skew-000001", Kind: jobs.KindContactUpsert, Status: jobs.StatusSucceeded, Attempt: 1,
			Finished: time.Now(), Counts: jobs.Counts{Total: 2, Succeeded: 2}}
		data, _ := json.Marshal(r)
		if _, err := e.js.PublishMsg(context.Background(), &nats.Msg{Subject: jobs.ResultsPrefix + string(r.Kind), Data: data,
			Header: nats.Header{jobs.HeaderJobID: []string{r.ID}}}); err != nil {
			t.Error(err)
		}
	}}
	var errb strings.Builder
	m := &Main{Stdin: strings.NewReader(""), Stdout: out, Stderr: &errb, ProgressEvery: time.Hour,
		Environ: []string{"NATS_URL=" + e.srv.URL()}, Now: func() time.Time { return time.Now().Add(time.Hour) }}
	code := m.Run(context.Background(), []string{"contacts", "-target", "klicktipp", "-id", "skew", "-wait", "-timeout", "10s", p})
	if code != 0 || !strings.Contains(out.String(), "1 of 1 job finished") {
		t.Errorf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}

// onWrite is a buffer that calls fn on its first write.
type onWrite struct {
	strings.Builder
	fn   func()
	done bool
}

func (w *onWrite) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		w.fn()
	}
	return w.Builder.Write(p)
}

// A .gz with one unclosed quote early on: the rest of the input is that
// one row, read to its end without being kept; the rejects file keeps
// the first 64 KiB of it (it held all of it before: 419 MB for a 400 KB
// .gz).
func TestUnclosedQuoteInALargeGzIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	io.WriteString(zw, "email,first_name\nbob@example.com,Bob\nann@example.com,\"Ann\n")
	line := []byte("dan@example.com,Dan\n")
	const rows = 1_000_000 // 20 MB
	for range rows {
		zw.Write(line)
	}
	zw.Close()
	p := filepath.Join(e.dir, "q.csv.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := e.run(t, "", "contacts", "-target", "klicktipp", "-quiet", "-id", "q", p)
	if code != 1 || !strings.Contains(out, "rejected: 1 row") || !strings.Contains(errOut, "line 3: unterminated quote starting at line 3 swallows lines 3-1000003") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
	st, err := os.Stat(p + ".rejects.csv")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 80<<10 {
		t.Errorf("rejects file is %d bytes; a reject keeps at most 64 KiB of its row", st.Size())
	}
	if got := emails(e.jobsIn(t)); strings.Join(got, " ") != "bob@example.com" {
		t.Errorf("published %v", got)
	}
}
