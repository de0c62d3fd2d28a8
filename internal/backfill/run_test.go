package backfill_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"crmsync/internal/backfill"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// A Backfill opens its input before anything is sent, publishes the good
// rows as jobs, writes the bad ones to the rejects file (telling
// Hooks.Rejected), saves its record and reports what it did.
func TestBackfillPublishes(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	nc, js := srv.Connect(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "c.csv")
	if err := os.WriteFile(in, []byte("email\na@example.com\nbad\nb@example.com\nc@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rejected []int64
	started := 0
	b, err := backfill.New(backfill.Config{
		Spec:  backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy, Batch: 2},
		Input: in, Wait: true,
		Hooks: backfill.Hooks{
			Started:  func(p backfill.Progress) func() { started++; return nil },
			Rejected: func(e *backfill.RowError, n int) { rejected = append(rejected, e.Line) },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if b.Rejects() != in+".rejects.csv" || b.Input() != in {
		t.Errorf("input %q, rejects %q", b.Input(), b.Rejects())
	}
	rep, err := b.Publish(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	if started != 1 || len(rejected) != 1 || rejected[0] != 3 {
		t.Errorf("hooks: started %d, rejected lines %v", started, rejected)
	}
	if rep.Stats.Jobs.Load() != 2 || rep.Stats.Items.Load() != 3 || rep.Stats.Rejected.Load() != 1 || rep.RecordErr != nil {
		t.Errorf("report %+v: jobs %d items %d rejected %d", rep, rep.Stats.Jobs.Load(), rep.Stats.Items.Load(), rep.Stats.Rejected.Load())
	}
	rec, err := backfill.LoadRecord(context.Background(), js, rep.ID)
	if err != nil || rec.Jobs != 2 || rec.Items != 3 || rec.Source != "c.csv" {
		t.Errorf("record %+v, %v", rec, err)
	}
}

// New refuses what cannot run before it dials anything: a bad spec,
// stdin without an id, a missing file, an unknown extension.
func TestBackfillNewErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := backfill.Spec{Kind: jobs.KindContactUpsert, Target: jobs.TargetKlipy}
	for _, cfg := range []backfill.Config{
		{Spec: backfill.Spec{Kind: jobs.KindContactUpsert}, Input: "-", ID: "x"},
		{Spec: spec, Input: "-"},
		{Spec: spec, Input: filepath.Join(dir, "missing.csv")},
		{Spec: spec, Input: dir},
		{Spec: spec, Input: "-", ID: "bad id"},
	} {
		_, err := backfill.New(cfg)
		var ue *backfill.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("New(%+v) = %v, want a *UsageError", cfg, err)
		}
	}
}
