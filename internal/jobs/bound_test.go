package jobs_test

import (
	"encoding/json"
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
