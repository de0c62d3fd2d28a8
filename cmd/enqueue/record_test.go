package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"crmsync/internal/backfill"
)

// queuedCSV has 3 jobs of 2 contacts at -batch 2, and one bad row.
const queuedCSV = "email,first_name\n" +
	"a1@example.com,A\na2@example.com,B\n" +
	"bad@,X\n" +
	"b1@example.com,C\nb2@example.com,D\n" +
	"c1@example.com,E\nc2@example.com,F\n"

// record returns backfill id's stored record as raw JSON fields.
func (e *env) record(t *testing.T, id string) (map[string]any, uint64) {
	t.Helper()
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, backfill.RecordBucket)
	if err != nil {
		t.Fatal(err)
	}
	en, err := kv.Get(ctx, backfill.RecordKey(id))
	if err != nil {
		t.Fatalf("record of %s: %v", id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(en.Value(), &m); err != nil {
		t.Fatal(err)
	}
	return m, en.Revision()
}

func (e *env) deleteRecord(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	kv, err := e.js.KeyValue(ctx, backfill.RecordBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, backfill.RecordKey(id)); err != nil {
		t.Fatal(err)
	}
}

func fixedClock(s string) func() time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return tm }
}

// No worker runs: the jobs stay queued, and status counts all of them as
// missing because the record says there are 3.
func TestStatusWithRecordCountsQueuedJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.now = fixedClock("2026-11-23T19:00:00Z")
	p := e.write(t, "queued.csv", queuedCSV)
	if code, _, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", "q", p); code != 1 {
		t.Fatalf("exit %d, want 1 (a row rejected)", code)
	}
	rec, _ := e.record(t, "q")
	want := map[string]any{"id": "q", "kind": "contact.upsert", "target": "klicktipp", "account": "default",
		"jobs": 3.0, "items": 6.0, "rejected": 1.0, "source": "queued.csv", "created": "2026-11-23T19:00:00Z"}
	if len(rec) != len(want) {
		t.Errorf("record %v, want the fields of %v", rec, want)
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record %s = %v, want %v", k, rec[k], v)
		}
	}

	code, out, _ := e.run(t, "", "status", "q")
	if code != 1 {
		t.Errorf("status exit %d, want 1 (jobs without a result)", code)
	}
	for _, s := range []string{
		"backfill q: 0 of 3 jobs finished",
		"enqueued 2026-11-23T19:00:00Z from queued.csv: contact.upsert to klicktipp, account default; 3 jobs, 6 items, 1 row rejected",
		"jobs:  0 succeeded, 0 partial, 0 failed, 0 dead-lettered, 3 without a result yet",
		"without a result yet: q-000001 to q-000003",
		"queued where its jobs go: 3 at the intake (not yet moved onto a lane by a worker)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("status lacks %q", s)
		}
	}
	if strings.Contains(out, "total unknown") {
		t.Error("status says the total is unknown")
	}
}

// A worker finishes the jobs (stdin input this time): status has all of
// them. With the record gone, status falls back to what the results say.
func TestStatusWithRecordAfterWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startWorker(t)
	e.now = fixedClock("2026-11-24T08:30:00Z")
	stdin := "email,first_name\n" +
		"a1@example.com,A\na2@example.com,B\nb1@example.com,C\nb2@example.com,D\nc1@example.com,E\n"
	code, _, _ := e.run(t, stdin, "contacts", "-target", "klicktipp", "-batch", "2", "-id", "done", "-wait", "-timeout", "60s", "-")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if rec, _ := e.record(t, "done"); rec["source"] != "stdin" || rec["jobs"] != 3.0 || rec["items"] != 5.0 {
		t.Errorf("record %v", rec)
	}
	code, out, _ := e.run(t, "", "status", "done")
	if code != 0 {
		t.Errorf("status exit %d, want 0", code)
	}
	for _, s := range []string{
		"backfill done: 3 of 3 jobs finished",
		"enqueued 2026-11-24T08:30:00Z from stdin: contact.upsert to klicktipp, account default; 3 jobs, 5 items, 0 rows rejected",
		"jobs:  3 succeeded, 0 partial, 0 failed, 0 dead-lettered\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("status lacks %q", s)
		}
	}
	if strings.Contains(out, "without a result") {
		t.Error("status lists jobs without a result")
	}

	// An older backfill (no record): as before, with the total unknown.
	e.deleteRecord(t, "done")
	code, out, _ = e.run(t, "", "status", "done")
	if code != 0 {
		t.Errorf("status without a record: exit %d, want 0", code)
	}
	for _, s := range []string{
		"backfill done: 3 jobs\n",
		"total unknown: no record in CRMSYNC_BACKFILLS",
		"jobs still queued after done-000003 are not counted",
		"jobs:  3 succeeded, 0 partial, 0 failed, 0 dead-lettered\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("status without a record lacks %q", s)
		}
	}
}

// Without a record and without results, status says nothing is known, as
// it did before records were kept.
func TestStatusWithoutRecordOrResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.write(t, "queued.csv", queuedCSV)
	e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", "old", p)
	e.deleteRecord(t, "old")
	code, out, errOut := e.run(t, "", "status", "old")
	if code != 1 || out != "" || !strings.Contains(errOut, "backfill old: no results or dead letters found") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// A re-run finds its jobs enqueued already: it writes the record again
// with the same figures (back if it was gone, keeping its first created
// time if not). The id has "..", which KV keys do not allow as it is.
func TestRecordWrittenOnRerunWithDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const id = "spring..2026."
	e.now = fixedClock("2026-11-23T19:00:00Z")
	p := e.write(t, "queued.csv", queuedCSV)
	e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", id, p)
	first, rev := e.record(t, id)
	if first["id"] != id {
		t.Fatalf("record %v", first)
	}
	if k := backfill.RecordKey(id); !strings.HasPrefix(k, "=") {
		t.Errorf("key %q: want it encoded", k)
	}

	e.now = fixedClock("2026-11-23T19:20:00Z")
	_, out, _ := e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", id, p)
	if !strings.Contains(out, "0 enqueued, 3 already enqueued") {
		t.Fatalf("re-run enqueued again:\n%s", out)
	}
	again, rev2 := e.record(t, id)
	if rev2 <= rev {
		t.Errorf("revision %d after %d: the re-run did not write the record", rev2, rev)
	}
	for k, v := range first {
		if again[k] != v {
			t.Errorf("re-run: %s = %v, want %v", k, again[k], v)
		}
	}

	e.deleteRecord(t, id)
	e.run(t, "", "contacts", "-target", "klicktipp", "-batch", "2", "-id", id, p)
	back, _ := e.record(t, id)
	for k, v := range first {
		if k != "created" && back[k] != v {
			t.Errorf("re-run after the record was lost: %s = %v, want %v", k, back[k], v)
		}
	}
	if back["created"] != "2026-11-23T19:20:00Z" {
		t.Errorf("created %v, want the re-run's time", back["created"])
	}
	if code, out, _ := e.run(t, "", "status", id); code != 1 || !strings.Contains(out, "0 of 3 jobs finished") {
		t.Errorf("status: %d\n%s", code, out)
	}
}
