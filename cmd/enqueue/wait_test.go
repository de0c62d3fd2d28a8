package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/jobs"
)

// startWorker runs a jobs.Runner in-process on e's server against the
// KlickTipp fake until the test ends. Jobs whose id ends in one of dead
// are routed to nowhere, so the runner dead-letters them.
func (e *env) startWorker(t *testing.T, dead ...string) *klicktipptest.Server {
	t.Helper()
	ctx := context.Background()
	kt := klicktipptest.NewServer()
	t.Cleanup(kt.Close)
	hc := apis.NewHTTPClient(2 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	client, err := klicktipp.New(klicktipp.Config{BaseURL: kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	h := &jobs.KlickTippUpsert{Client: client, CreateTags: true}
	ci := clickyidtest.NewServer()
	t.Cleanup(ci.Close)
	cc, err := clickyid.New(clickyid.Config{BaseURL: ci.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	router := jobs.RouterFunc(func(j *jobs.Job) (jobs.Handler, error) {
		for _, d := range dead {
			if strings.HasSuffix(j.ID, d) {
				return nil, errors.New("account is locked (test)")
			}
		}
		if j.Kind == jobs.KindEmailValidate {
			return &jobs.ClickyIDValidate{Client: cc}, nil
		}
		return h, nil
	})
	cfg := jobs.Config{Concurrency: 4, AckWait: 5 * time.Second, MaxAttempts: 2, RetryBase: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		Hold: 100 * time.Millisecond, CheckpointEvery: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cons, err := jobs.Setup(ctx, e.js, jobs.StreamConfig{AckWait: cfg.AckWait})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := jobs.EnsureCheckpoints(ctx, e.js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := jobs.NewRunner(e.js, cons, kv, router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the worker's Run did not return within 30s of cancel")
		}
	})
	return kt
}

// waitCSV has 3 jobs of 2 contacts at -batch 2: job 1 succeeds, job 2 is
// dead-lettered, job 3 is partial (list 999999 does not exist).
const waitCSV = "email,first_name,listid\n" +
	"a1@example.com,A,\na2@example.com,B,\n" +
	"d1@example.com,C,\nd2@example.com,D,\n" +
	"p1@example.com,E,\np2@example.com,F,999999\n"

func TestWaitSummarisesResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startWorker(t, "-000002")
	p := e.write(t, "w.csv", waitCSV)
	code, out, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", "w", "-wait", "-timeout", "60s", p)
	if code != 1 {
		t.Errorf("exit %d, want 1 (a job failed)", code)
	}
	for _, want := range []string{
		"3 of 3 jobs finished",
		"jobs:  1 succeeded, 1 partial, 0 failed, 1 dead-lettered",
		"items: 3 succeeded, 3 failed (of 6)",
		"2  not processed: the job was dead-lettered",
		"1  klicktipp: ",
		"w-000002  dlq seq 1: account is locked (test)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	// status prints the same later.
	code, st, _ := e.run(t, "", "status", "w")
	if code != 1 || !strings.Contains(st, "jobs:  1 succeeded, 1 partial, 0 failed, 1 dead-lettered") || !strings.Contains(st, "items: 3 succeeded, 3 failed (of 6)") {
		t.Errorf("status: %d\n%s", code, st)
	}

	// Replaying the dead letter to a worker that now takes it: status
	// counts the newer result.
	code, _, _ = e.run(t, "", "dlq", "replay", "1")
	if code != 0 {
		t.Fatalf("replay: %d", code)
	}
	// A re-run of the backfill enqueues nothing and waits for the results
	// already there (dead letter replayed, so job 2 may still be running).
	code, out, _ = e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", "w", "-wait", "-timeout", "60s", p)
	if !strings.Contains(out, "0 enqueued, 3 already enqueued") || !strings.Contains(out, "3 of 3 jobs finished") {
		t.Errorf("re-run with -wait: %d\n%s", code, out)
	}
}

func TestWaitAllSucceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kt := e.startWorker(t)
	var b strings.Builder
	b.WriteString("email,first_name\n")
	for i := 0; i < 30; i++ {
		b.WriteString("s" + itoa(i) + "@example.com,N\n")
	}
	code, out, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "7", "-wait", "-timeout", "60s", e.write(t, "ok.csv", b.String()))
	if code != 0 || !strings.Contains(out, "jobs:  5 succeeded, 0 partial, 0 failed, 0 dead-lettered") || !strings.Contains(out, "items: 30 succeeded, 0 failed (of 30)") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if n := len(kt.Subscribers()); n != 30 {
		t.Errorf("%d subscribers", n)
	}
}

func TestWaitValidateShowsVerdicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startWorker(t)
	p := e.write(t, "e.txt", "a@uni.example\nb@cs.uni.example\nc@example.com\nd@student.example\ne@corp.example\n")
	code, out, errOut := e.run(t, "", "validate", "-target-groups", "tg_uni", "-batch", "2", "-id", "v", "-wait", "-timeout", "60s", p)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"jobs:  3 succeeded, 0 partial, 0 failed, 0 dead-lettered",
		"items: 5 succeeded, 0 failed (of 5)",
		"emails: 3 valid, 2 invalid (ClickyID's verdicts)",
		"2  " + clickyidtest.ReasonNotInGroup,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
