package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"crmsync/internal/jobs"
)

// deadLetter stores a dead letter as the worker would.
func (e *env) deadLetter(t *testing.T, jobID, reason, body string) {
	t.Helper()
	ctx := context.Background()
	for _, sc := range jobs.Streams(jobs.StreamConfig{}) {
		if _, err := e.js.CreateOrUpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	h := nats.Header{}
	h.Set(jobs.HeaderMsgID, "dlq:"+jobID)
	h.Set(jobs.HeaderOriginalMsgID, jobID)
	h.Set(jobs.HeaderJobID, jobID)
	h.Set(jobs.HeaderError, reason)
	h.Set(jobs.HeaderAttempts, "8")
	h.Set(jobs.HeaderOriginalSubject, jobs.KindContactUpsert.Subject())
	if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: jobs.DeadLetterSubject(jobs.KindContactUpsert), Header: h, Data: []byte(body)}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := e.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"id":"j1","kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@example.com"}]}`
	e.deadLetter(t, "j1", "gave up after 8 failed attempts: klipy: 503", body)
	e.deadLetter(t, "j2", "account is locked", strings.Replace(body, "j1", "j2", 1))
	e.deadLetter(t, "j3", "bad", strings.Replace(body, "j1", "j3", 1))

	code, out, _ := e.run(t, "", "dlq", "list")
	if code != 0 || !strings.Contains(out, "SEQ") || !strings.Contains(out, "crmsync.dlq.contact.upsert  j1") || !strings.Contains(out, "klipy: 503") || strings.Count(out, "\n") != 4 {
		t.Errorf("list: %d\n%s", code, out)
	}
	code, out, _ = e.run(t, "", "dlq", "show", "2")
	if code != 0 || !strings.Contains(out, "Crmsync-Error: account is locked") || !strings.Contains(out, `"id": "j2"`) {
		t.Errorf("show: %d\n%s", code, out)
	}
	if code, _, errOut := e.run(t, "", "dlq", "show", "99"); code != 1 || !strings.Contains(errOut, "no dead letter") {
		t.Errorf("show 99: %d %s", code, errOut)
	}

	code, out, _ = e.run(t, "", "dlq", "replay", "1")
	if code != 0 || !strings.Contains(out, "as j1-replay-1") {
		t.Fatalf("replay: %d %s", code, out)
	}
	if e.count(t, jobs.JobsStream) != 1 || e.count(t, jobs.DLQStream) != 2 {
		t.Errorf("after replay: %d jobs, %d dead letters", e.count(t, jobs.JobsStream), e.count(t, jobs.DLQStream))
	}
	s, _ := e.js.Stream(context.Background(), jobs.JobsStream)
	m, err := s.GetLastMsgForSubject(context.Background(), jobs.KindContactUpsert.Subject())
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != body || m.Header.Get(jobs.HeaderMsgID) != "j1-replay-1" || m.Header.Get(jobs.HeaderError) != "" {
		t.Errorf("replayed message: %v %s", m.Header, m.Data)
	}
	if code, _, _ := e.run(t, "", "dlq", "replay", "1"); code != 1 {
		t.Errorf("replaying a deleted letter: exit %d, want 1", code)
	}
	// An earlier replay of seq 2 that published but crashed before the
	// delete: replaying again is deduplicated by the jobs stream.
	if _, err := e.js.PublishMsg(context.Background(), &nats.Msg{Subject: jobs.KindContactUpsert.Subject(), Data: []byte(body),
		Header: nats.Header{jobs.HeaderMsgID: []string{"j2-replay-2"}}}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = e.run(t, "", "dlq", "replay", "-all")
	if code != 0 || strings.Count(out, "replayed dlq seq") != 2 || !strings.Contains(out, "j2-replay-2 (already replayed before: deduplicated)") {
		t.Errorf("replay -all: %d %s", code, out)
	}
	if e.count(t, jobs.DLQStream) != 0 || e.count(t, jobs.JobsStream) != 3 {
		t.Errorf("after replay -all: %d dead letters, %d jobs", e.count(t, jobs.DLQStream), e.count(t, jobs.JobsStream))
	}

	e.deadLetter(t, "j5", "x", body)
	e.deadLetter(t, "j6", "y", body)
	code, out, _ = e.run(t, "", "dlq", "purge", "-yes")
	if code != 0 || !strings.Contains(out, "purged 2") || e.count(t, jobs.DLQStream) != 0 {
		t.Errorf("purge: %d %s", code, out)
	}
}

// A dead letter's reason, headers and body come from whoever published
// the job: dlq list and show print their control characters escaped, so
// they cannot drive the terminal.
func TestDeadLetterControlCharactersAreEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deadLetter(t, "j\x1b[2J1", "bad \x1b[31mred\x1b[0m \u202eevil", "not json \x1b]0;owned\x07 here\r\nline two\n\tend \xff")
	e.deadLetter(t, "j2", "x", `{"id":"j2","note":"\u001b[31m"}`)
	for _, args := range [][]string{{"dlq", "list"}, {"dlq", "show", "1"}, {"dlq", "show", "2"}} {
		code, out, _ := e.run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		if strings.ContainsAny(out, "\x1b\x07\r\u202e") || strings.Contains(out, "\xff") {
			t.Errorf("%v prints control characters: %q", args, out)
		}
		if args[1] == "show" && args[2] == "1" && (!strings.Contains(out, `bad \x1b[31mred\x1b[0m \u202eevil`) || !strings.Contains(out, "here\\x0d\nline two\n\tend \\xff")) {
			t.Errorf("show: %q", out)
		}
		if args[1] == "show" && args[2] == "2" && !strings.Contains(out, `"note": "\u001b[31m"`) {
			t.Errorf("show of JSON: %q", out)
		}
	}
}
