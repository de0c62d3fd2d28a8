package main

import (
	"context"
	"strings"
	"testing"

	"crmsync/internal/jobs"
)

// priorities returns the Crmsync-Priority header of every job stored.
func (e *env) priorities(t *testing.T) []string {
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
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join(m.Header.Values(jobs.HeaderPriority), "+"))
	}
	return out
}

// enqueue's jobs are backfill jobs (they wait behind live ones) unless
// told -priority live; any other value is a usage error.
func TestJobsCarryTheirPriority(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "p.csv", "email\na@example.com\nb@example.com\nc@example.com\n")
	if code, _, _ := e.run(t, "", "contacts", "-target", "klipy", "-batch", "1", "-id", "bf", p); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Join(e.priorities(t), " "); got != "backfill backfill backfill" {
		t.Errorf("default: Crmsync-Priority of the jobs %q, want backfill on each", got)
	}
	if code, _, _ := e.run(t, "", "validate", "-offers", "o1", "-priority", "live", "-id", "lv", e.write(t, "v.txt", "a@example.com\n")); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := e.priorities(t); len(got) != 4 || got[3] != jobs.PriorityLive {
		t.Errorf("-priority live: %q", got)
	}
	code, _, errOut := e.run(t, "", "contacts", "-target", "klipy", "-priority", "urgent", "-id", "u", p)
	if code != 2 || !strings.Contains(errOut, `-priority "urgent": want backfill or live`) {
		t.Errorf("-priority urgent: exit %d, %s", code, errOut)
	}
}
