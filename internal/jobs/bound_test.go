package jobs_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// A ~200 KB job whose email is all '<' (six bytes each in JSON) on a server
// with NATS's default 1 MiB max payload ends with a result whose email is
// clipped, after one attempt: it does not loop on a result (or checkpoint)
// too large to publish.
func TestHugeItemStringsAreClippedNotLooped(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{broker: []brokertest.Option{brokertest.MaxPayload(1 << 20)}})
	email := strings.Repeat("<", 200<<10)
	body := `{"id":"lt","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"ok@example.com"},{"email":"` + email + `"}]}`
	b.publish(t, "crmsync.jobs.contact.upsert", body, "lt")
	b.start(t)
	msgs := b.collect(t, jobs.ResultsStream, 1, 20*time.Second)
	var r jobs.Result
	if err := json.Unmarshal(msgs[0].Data(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != jobs.StatusPartial || r.Attempt != 1 || len(r.Items) != 2 || r.Parts != 0 {
		t.Fatalf("result: status %s, attempt %d, %d items, part %d of %d; want one result of 2 items", r.Status, r.Attempt, len(r.Items), r.Part, r.Parts)
	}
	it := r.Items[1]
	if len(it.Email) > 400 || !strings.HasPrefix(it.Email, "<<<<") || !strings.Contains(it.Email, "clipped") {
		t.Errorf("item email is %d bytes (%.60q…), want it clipped with a marker", len(it.Email), it.Email)
	}
	if it.OK || it.Error == "" || len(it.Error) > 600 {
		t.Errorf("item: ok %v, error of %d bytes", it.OK, len(it.Error))
	}
	if len(msgs[0].Data()) > 16<<10 {
		t.Errorf("result is %d bytes", len(msgs[0].Data()))
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
}

// A job that must be dead-lettered but whose body leaves no room for the
// dead letter's headers under the server's max payload is dead-lettered
// with its body cut to fit (Crmsync-Truncated says how long it was),
// instead of looping on a dead letter the server refuses.
func TestDeadLetterTooLargeIsCutToFit(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{broker: []brokertest.Option{brokertest.MaxPayload(1 << 20)}})
	head := `{"id":"huge-dead","kind":"contact.upsert","target":"nope","contacts":[{"email":"a@example.com","fields":{"fieldX":"`
	tail := `"}}]}`
	body := head + strings.Repeat("x", 1<<20-100-len(head)-len(tail)) + tail
	b.publish(t, "crmsync.jobs.contact.upsert", body, "")
	b.start(t)
	m := b.collect(t, jobs.DLQStream, 1, 10*time.Second)[0]
	h := m.Headers()
	if h.Get(jobs.HeaderTruncated) != strconv.Itoa(len(body)) || !strings.HasPrefix(body, string(m.Data())) || len(m.Data()) < len(body)-4096 {
		t.Errorf("dead letter: %d of %d bytes, %s %q", len(m.Data()), len(body), jobs.HeaderTruncated, h.Get(jobs.HeaderTruncated))
	}
	if !strings.Contains(h.Get(jobs.HeaderError), "target") || h.Get(jobs.HeaderJobID) != "huge-dead" {
		t.Errorf("headers %v", h)
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
}
