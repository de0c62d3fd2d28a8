package backfill_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

func TestRecordKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, want string
	}{
		{"contacts-3f2a9c1d4e", "contacts-3f2a9c1d4e"},
		{"Crm_1.v2-x", "Crm_1.v2-x"},
		{"my contacts-3f2a9c1d4e", "=bXkgY29udGFjdHMtM2YyYTljMWQ0ZQ"},
		{"kontakte-müller", "=a29udGFrdGUtbcO8bGxlcg"},
		{"a..b", "=YS4uYg"},
		{"a.", "=YS4"},
		{".a", "=LmE"},
		{"_kv", "=X2t2"},
		{"x=y", "=eD15"},
		{"a/b", "=YS9i"},
		{"=YS9i", "=PVlTOWk"}, // an encoded key as an id is encoded again
	} {
		if got := backfill.RecordKey(tc.id); got != tc.want {
			t.Errorf("RecordKey(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// Records round-trip through a real bucket whatever the id, and a re-run
// with the same figures keeps the first Created.
func TestRecordSaveLoad(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	if _, err := backfill.LoadRecord(ctx, js, "none"); !errors.Is(err, backfill.ErrNoRecord) {
		t.Fatalf("no bucket: %v, want ErrNoRecord", err)
	}
	cfg := backfill.RecordsConfig{TTL: 2 * time.Hour, Replicas: 1}
	kv, err := backfill.EnsureRecords(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backfill.EnsureRecords(ctx, js, cfg); err != nil { // idempotent
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != backfill.RecordBucket || st.History() != 1 || st.TTL() != 2*time.Hour ||
		st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage != jetstream.FileStorage {
		t.Errorf("bucket %s history %d ttl %s", st.Bucket(), st.History(), st.TTL())
	}
	if _, err := backfill.LoadRecord(ctx, js, "none"); !errors.Is(err, backfill.ErrNoRecord) {
		t.Fatalf("no key: %v, want ErrNoRecord", err)
	}

	t0 := time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC)
	ids := []string{"plain-3f2a9c1d4e", "my contacts-3f2a", "kontakte-müller", "a..b", "x=y", "=eD15"}
	for i, id := range ids {
		rec := backfill.Record{ID: id, Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp, Account: "default",
			Jobs: i + 1, Items: 10, Source: "in.csv", Created: t0}
		if err := backfill.SaveRecord(ctx, kv, rec); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
	}
	for i, id := range ids { // none overwrote another
		got, err := backfill.LoadRecord(ctx, js, id)
		if err != nil || got.ID != id || got.Jobs != i+1 || !got.Created.Equal(t0) {
			t.Errorf("%q: %+v, %v", id, got, err)
		}
	}

	// Same figures later: Created kept. Other figures: the new one.
	rec := backfill.Record{ID: ids[1], Kind: jobs.KindContactUpsert, Target: jobs.TargetKlickTipp, Account: "default",
		Jobs: 2, Items: 10, Source: "in.csv", Created: t0.Add(time.Hour)}
	if err := backfill.SaveRecord(ctx, kv, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := backfill.LoadRecord(ctx, js, ids[1]); got == nil || !got.Created.Equal(t0) {
		t.Errorf("re-run with the same figures: %+v, want created %s", got, t0)
	}
	rec.Jobs = 3
	if err := backfill.SaveRecord(ctx, kv, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := backfill.LoadRecord(ctx, js, ids[1]); got == nil || !got.Created.Equal(rec.Created) || got.Jobs != 3 {
		t.Errorf("other figures: %+v", got)
	}

	// The stored value is the documented JSON.
	e, err := kv.Get(ctx, backfill.RecordKey(ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"plain-3f2a9c1d4e","kind":"contact.upsert","target":"klicktipp","account":"default","jobs":1,"items":10,"rejected":0,"source":"in.csv","created":"2026-11-23T19:00:00Z"}`
	if got := strings.TrimSpace(string(e.Value())); got != want {
		t.Errorf("value\n%s\nwant\n%s", got, want)
	}
}
