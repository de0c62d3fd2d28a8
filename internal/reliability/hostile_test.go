package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// hostile is one message of the corpus and where it must end.
type hostile struct {
	name    string
	subject string // default contact.upsert
	body    []byte
	// dlq: a substring of the Crmsync-Error it must be dead-lettered with.
	dlq string
	// items: per item, "" for success or a substring of its error; the job
	// must publish a result with exactly these outcomes.
	items []string
	// dedupe: published under the Nats-Msg-Id of the entry named here; the
	// stream must refuse it as a duplicate.
	dedupe string
	msgID  string // default "hostile-"+name
}

func hostileCorpus() []hostile {
	up := func(extra string) []byte {
		return []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"h@example.com"}]` + extra + `}`)
	}
	long := strings.Repeat("a", 990) + "@example.com" // 1,002 characters
	emails100k := make([]string, 100000)
	for i := range emails100k {
		emails100k[i] = fmt.Sprintf("e%d@example.com", i)
	}
	big100k := fmt.Appendf(nil, `{"id":"hostile-100k-items","kind":"email.validate","emails":["%s"]}`, strings.Join(emails100k, `","`))
	tenMB := fmt.Appendf(nil, `{"id":"hostile-10mb","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"big@example.com","fields":{"fieldFirstName":"%s"}}]}`, strings.Repeat("x", 10<<20))
	deep := []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"d@example.com","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]}`)

	return []hostile{
		{name: "not-json", body: []byte("hello, worker"), dlq: "not JSON"},
		{name: "empty-body", body: nil, dlq: "not a job envelope"},
		{name: "json-null", body: []byte("null"), dlq: "kind is missing"},
		{name: "json-array", body: []byte(`[1,2,3]`), dlq: "not a job envelope"},
		{name: "json-string", body: []byte(`"contact.upsert"`), dlq: "not a job envelope"},
		{name: "contacts-wrong-type", body: []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":"ann@example.com"}`), dlq: "contacts"},
		{name: "id-wrong-type", body: []byte(`{"id":5,"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@example.com"}]}`), dlq: "id"},
		{name: "tag-wrong-type", body: []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@example.com","tags":[{"x":1}]}]}`), dlq: "tag"},
		{name: "listid-string", body: []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"a@example.com","listid":"abc"}]}`), dlq: "listid"},
		{name: "kind-missing", body: []byte(`{"target":"klicktipp","contacts":[{"email":"a@example.com"}]}`), dlq: "kind is missing"},
		{name: "kind-unknown", body: []byte(`{"kind":"contact.delete","target":"klicktipp","contacts":[{"email":"a@example.com"}]}`), dlq: "unknown kind"},
		{name: "kind-not-subject", body: []byte(`{"kind":"email.validate","emails":["a@example.com"]}`), dlq: "does not match subject"},
		{name: "subject-not-a-kind", subject: "crmsync.jobs.contact.delete", body: up(""), dlq: "does not match subject"},
		{name: "target-unknown", body: []byte(`{"kind":"contact.upsert","target":"salesforce","contacts":[{"email":"a@example.com"}]}`), dlq: "target"},
		{name: "mode-unknown", subject: jobs.KindEmailValidate.Subject(), body: []byte(`{"kind":"email.validate","emails":["a@uni.example"],"mode":"some"}`), dlq: "mode"},
		{name: "zero-items", body: []byte(`{"kind":"contact.upsert","target":"klicktipp","contacts":[]}`), dlq: "no items"},
		{name: "zero-emails", subject: jobs.KindEmailValidate.Subject(), body: []byte(`{"kind":"email.validate","emails":[]}`), dlq: "no items"},
		{name: "100k-items", subject: jobs.KindEmailValidate.Subject(), body: big100k, dlq: "more than the limit of 10000"},
		{name: "10mb-body", body: tenMB, dlq: "more than the limit"},
		{name: "trailing-data", body: append(up(""), up("")...), dlq: "after the JSON object"},
		{name: "invalid-utf8", body: []byte("{\"kind\":\"contact.upsert\",\"target\":\"klicktipp\",\"contacts\":[{\"email\":\"u@example.com\",\"fields\":{\"fieldFirstName\":\"\xff\xfe\"}}]}"), dlq: "UTF-8"},
		{name: "deep-nesting", body: deep, dlq: "not a job envelope"},
		{name: "id-too-long", body: up(`,"id":"` + strings.Repeat("i", 300) + `"`), dlq: "longer than 256"},
		{name: "id-control-chars", body: up(`,"id":"bell\u0007\r\nX-Injected: 1"`), dlq: "control characters"},
		{name: "msgid-huge", body: []byte("{"), dlq: "not a job envelope", msgID: "hostile-" + strings.Repeat("m", 2000)},
		{name: "account-unknown", body: up(`,"id":"hostile-account-unknown","account":"nobody"`), dlq: "not configured"},
		{name: "account-no-klipy", body: []byte(`{"id":"hostile-account-no-klipy","account":"ktonly","kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@example.com"}]}`), dlq: "no klipy credentials"},
		{
			name: "klicktipp-items",
			body: []byte(`{"id":"hostile-klicktipp-items","kind":"contact.upsert","target":"klicktipp","contacts":[
				{"email":"good@example.com","fields":{"fieldFirstName":"Good"}},
				{"email":"not-an-email"},
				{"email":"` + long + `"},
				{"email":"sp ace@example.com"},
				{"email":"ctl@example.com","fields":{"fieldFirstName":"a\u0001b"}},
				{"email":"nl@example.com","fields":{"fieldLastName":"line1\nline2"}},
				{"email":"nofield@example.com","fields":{"fieldDoesNotExist":"x"}},
				{"email":"nolist@example.com","listid":999999},
				{"email":"dup@example.com","fields":{"fieldFirstName":"One"}},
				{"email":"dup@example.com","fields":{"fieldFirstName":"Two"}},
				{"email":"<script>@example.com"},
				{"email":"Ann <ann@example.com>"},
				{"email":""}]}`),
			items: []string{"", "not a valid address", "more than 254", "spaces or control", "control characters", "field validation", "406", "406", "", "", "not a valid address", "spaces or control", "empty"},
		},
		{
			name:    "clickyid-items",
			subject: jobs.KindEmailValidate.Subject(),
			body:    []byte(`{"id":"hostile-clickyid-items","kind":"email.validate","emails":["ok@uni.example","bad","` + long + `","x@example.com","x@example.com"],"targetGroupIds":["tg_uni"]}`),
			items:   []string{"", "not a valid address", "more than 254", "", ""},
		},
		{
			name:  "klipy-items",
			body:  []byte(`{"id":"hostile-klipy-items","kind":"contact.upsert","target":"klipy","contacts":[{"email":"p@example.com","firstName":"P"},{"email":"n@example.com","firstName":5},{"email":"o@example.com","firstName":{"$gt":""}}]}`),
			items: []string{"", "firstName must be a string", "firstName must be a string"},
		},
		{name: "clickyid-unknown-group", subject: jobs.KindEmailValidate.Subject(),
			// The same 400 for every email: the job is dead-lettered.
			body: []byte(`{"id":"hostile-clickyid-unknown-group","kind":"email.validate","emails":["a@uni.example","b@uni.example"],"targetGroupIds":["tg_nope"]}`),
			dlq:  "invalid_target_group"},
		// The same Nats-Msg-Id again: refused by the stream's duplicate window.
		{name: "duplicate-msgid", body: up(""), dedupe: "klicktipp-items"},
		// The same envelope id under two message ids: one job id. The second
		// is acked as already done (CRMSYNC_FINISHED) unless both ran at
		// once: one result, or two.
		{name: "duplicate-id-a", body: []byte(`{"id":"hostile-same-id","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"same1@example.com"}]}`), items: []string{""}},
		{name: "duplicate-id-b", body: []byte(`{"id":"hostile-same-id","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"same2@example.com"}]}`), items: []string{""}},
	}
}

// TestHostileInput publishes the corpus and checks that each message ends
// in the dead-letter stream or as failed items with a clear reason, that
// nothing is dropped, and that the worker keeps serving.
func TestHostileInput(t *testing.T) {
	needWorker(t)
	fig := record(t)
	broker := brokertest.Start(t)
	_, js := connect(t, broker.URL())
	kt := klicktipptest.NewServer()
	kl := klipytest.NewServer()
	ci := clickyidtest.NewServer()
	t.Cleanup(func() { kt.Close(); kl.Close(); ci.Close() })
	accounts := writeFile(t, "accounts.json", fmt.Sprintf(`{"ktonly":{"klicktipp":{"baseUrl":%q,"username":%q,"password":%q}}}`,
		kt.URL, klicktipptest.Username, klicktipptest.Password))
	w := newWorker(t, workerEnv(broker.URL(),
		"WORKER_MAX_JOB_BYTES=4194304", "ACCOUNTS_FILE="+accounts,
		"KLICKTIPP_BASE_URL="+kt.URL, "KLICKTIPP_USERNAME="+klicktipptest.Username, "KLICKTIPP_PASSWORD="+klicktipptest.Password,
		"KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey,
		"CLICKYID_BASE_URL="+ci.URL, "CLICKYID_API_KEY="+clickyidtest.DefaultAPIKey,
	))
	w.start()
	res := watch(t, js, jobs.ResultsStream)
	dlq := watch(t, js, jobs.DLQStream)

	corpus := hostileCorpus()
	wantDLQ, wantResults := 0, 0
	var wantIDs []string // job ids that must have a result
	for _, h := range corpus {
		subject := h.subject
		if subject == "" {
			subject = jobs.KindContactUpsert.Subject()
		}
		id := h.msgID
		if id == "" {
			id = "hostile-" + h.name
		}
		if h.dedupe != "" {
			id = "hostile-" + h.dedupe
		}
		ack := publish(t, js, subject, h.body, id)
		switch {
		case h.dedupe != "":
			if !ack.Duplicate {
				t.Errorf("%s: the stream accepted a message with a Nats-Msg-Id it already had", h.name)
			}
		case h.dlq != "":
			wantDLQ++
		case h.name == "duplicate-id-b": // may have no result of its own
		default:
			wantResults++
			fig.Items += len(h.items)
			if strings.HasPrefix(h.name, "duplicate-id-") {
				id = "hostile-same-id"
			}
			wantIDs = append(wantIDs, id)
		}
	}
	fig.HostileInputs = len(corpus)
	everyResult := func(m []message) bool {
		got := results(t, m)
		for _, id := range wantIDs {
			if got[id] == nil {
				return false
			}
		}
		return true
	}
	if !dlq.await(time.Minute, func(m []message) bool { return len(m) >= wantDLQ }) ||
		!res.await(time.Minute, everyResult) {
		d, _ := dlq.snapshot()
		r, _ := res.snapshot()
		t.Fatalf("%d of %d dead letters, %d of %d results within 1m:\n%s", len(d), wantDLQ, len(r), wantResults, tail(w.book, 20))
	}

	// The worker still serves: a good job after the corpus succeeds.
	publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob("after-corpus", "klicktipp", 900, 3)), "after-corpus")
	if !res.await(time.Minute, func(m []message) bool { return results(t, m)["after-corpus"] != nil }) {
		t.Fatalf("the job after the corpus did not finish:\n%s", tail(w.book, 20))
	}
	if !w.p.running() {
		t.Fatal("the worker exited")
	}
	for i := 0; i < 3; i++ {
		if s, ok := kt.Subscriber(contactEmail(900, i)); !ok || s.Fields["fieldFirstName"] != fmt.Sprintf("First-900-%d", i) {
			t.Errorf("contact %d of the job after the corpus: %v %+v", i, ok, s)
		}
	}

	dead, _ := dlq.snapshot()
	byMsgID := map[string]message{}
	for _, m := range dead {
		byMsgID[m.Header.Get(jobs.HeaderOriginalMsgID)] = m
	}
	rmsgs, _ := res.snapshot()
	var byJob = map[string][]jobs.Result{}
	for id, rs := range results(t, rmsgs) {
		byJob[id] = rs
	}
	for _, h := range corpus {
		id := h.msgID
		if id == "" {
			id = "hostile-" + h.name
		}
		switch {
		case h.dedupe != "":
		case h.dlq != "":
			m, ok := byMsgID[id]
			if !ok {
				t.Errorf("%s: not dead-lettered", h.name)
				continue
			}
			reason := m.Header.Get(jobs.HeaderError)
			if !strings.Contains(strings.ToLower(reason), strings.ToLower(h.dlq)) {
				t.Errorf("%s: dead-lettered with %q, want it to say %q", h.name, reason, h.dlq)
			}
			if len(reason) > 1000 || strings.ContainsAny(reason, "\r\n") {
				t.Errorf("%s: Crmsync-Error is not one short line (%d bytes)", h.name, len(reason))
			}
			if string(m.Data) != string(h.body) {
				t.Errorf("%s: dead letter does not carry the original body (%d bytes, want %d)", h.name, len(m.Data), len(h.body))
			}
			if m.Header.Get(jobs.HeaderJobID) == "" || m.Header.Get(jobs.HeaderOriginalSubject) == "" || m.Header.Get(jobs.HeaderAttempts) == "" {
				t.Errorf("%s: dead letter lacks contract headers: %v", h.name, m.Header)
			}
		default:
			jobID := id
			if strings.HasPrefix(h.name, "duplicate-id-") {
				jobID = "hostile-same-id"
			}
			rs := byJob[jobID]
			if len(rs) == 0 {
				t.Errorf("%s: no result", h.name)
				continue
			}
			r := rs[0]
			if strings.HasPrefix(h.name, "duplicate-id-") {
				if len(rs) != 1 && len(rs) != 2 {
					t.Errorf("two jobs with the same envelope id: %d results, want 1 (the second acked as already done) or 2 (both ran at once)", len(rs))
				}
			}
			if len(r.Items) != len(h.items) {
				t.Errorf("%s: %d items in the result, want %d: %+v", h.name, len(r.Items), len(h.items), r)
				continue
			}
			for i, want := range h.items {
				it := r.Items[i]
				switch {
				case want == "" && !it.OK:
					t.Errorf("%s item %d (%.40q): failed with %q, want success", h.name, i, it.Email, it.Error)
				case want != "" && (it.OK || !strings.Contains(it.Error, want)):
					t.Errorf("%s item %d (%.40q): ok=%v error %q, want a failure saying %q", h.name, i, it.Email, it.OK, it.Error, want)
				}
				if len(it.Error) > 600 {
					t.Errorf("%s item %d: error of %d bytes", h.name, i, len(it.Error))
				}
			}
		}
	}
	if s, ok := kt.Subscriber("dup@example.com"); !ok || s.Fields["fieldFirstName"] != "Two" {
		t.Errorf("a contact given twice in one job should end with the later values: %+v", s)
	}
	// duplicate-id-b may have no result to wait for: wait for the queue.
	if !poll(30*time.Second, func() bool { return streamCount(t, js, jobs.JobsStream) == 0 }) {
		t.Errorf("%d messages left on the work queue", streamCount(t, js, jobs.JobsStream))
	}
	fig.Jobs = len(corpus) + 1
	fig.DeadLetters = len(dead)
	fig.note("%d hostile messages: %d dead-lettered with a reason, %d finished with per-item failures, 1 refused as a duplicate Nats-Msg-Id", len(corpus), wantDLQ, wantResults)
}
