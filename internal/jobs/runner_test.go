package jobs_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"strings"
	"sync"
	"testing"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

func TestSessionModeOneSessionPerJob(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	const njobs, per = 20, 5
	for i := 0; i < njobs; i++ {
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("job-%d", i), "klicktipp", contacts(fmt.Sprintf("s%d-", i), per)), "")
	}
	b.start(t)
	res := b.results(t, njobs, 30*time.Second)
	for _, r := range res {
		if r.Status != jobs.StatusSucceeded || r.Counts.Succeeded != per || r.Items[0].SubscriberID == "" {
			t.Errorf("result %s: %+v", r.ID, r)
		}
	}
	b.stop(t)
	if got := len(b.kt.Subscribers()); got != njobs*per {
		t.Errorf("fake has %d subscribers, want %d", got, njobs*per)
	}
	if b.kt.Logins() != njobs || b.kt.Logouts() != njobs || b.kt.OpenSessions() != 0 {
		t.Errorf("logins %d, logouts %d, open %d; want %d, %d, 0", b.kt.Logins(), b.kt.Logouts(), b.kt.OpenSessions(), njobs, njobs)
	}
	// Never more live sessions than pool slots, and no request refused
	// for a bad session.
	open, most := 0, 0
	for _, r := range b.kt.Requests() {
		switch r.Path {
		case "/account/login":
			open++
		case "/account/logout":
			open--
		}
		most = max(most, open)
		if r.Status == 401 || r.Status == 403 {
			t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
		}
	}
	if most > b.cfg.Concurrency {
		t.Errorf("%d sessions open at once, pool has %d slots", most, b.cfg.Concurrency)
	}
	if b.count(t, jobs.DLQStream) != 0 {
		t.Errorf("dead letters: %d", b.count(t, jobs.DLQStream))
	}
}

func TestPartnerModeNeverLogsIn(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{partner: true})
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("p1", "klicktipp", contacts("p", 3)), "")
	b.start(t)
	res := b.results(t, 1, 20*time.Second)
	if res[0].Status != jobs.StatusSucceeded {
		t.Fatalf("result: %+v", res[0])
	}
	if n := b.kt.Count("", "/account/login") + b.kt.Count("", "/account/logout"); n != 0 {
		t.Errorf("partner mode made %d login/logout calls", n)
	}
	for _, r := range b.kt.Requests() {
		if r.Header.Get("X-Un") == "" || r.Header.Get("X-Ci") == "" {
			t.Errorf("%s %s without X-Un/X-Ci", r.Method, r.Path)
		}
	}
}

func TestTagsResolvedOnceAndCreated(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	cs := contacts("t", 4)
	for _, c := range cs {
		c["tags"] = []any{"newsletter", "brand-new-tag", 17}
		c["listid"] = 123
	}
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("tags", "klicktipp", cs), "")
	b.start(t)
	r := b.results(t, 1, 20*time.Second)[0]
	if r.Status != jobs.StatusSucceeded {
		t.Fatalf("result: %+v", r)
	}
	if n := b.kt.Count("GET", "/tag"); n != 2 {
		t.Errorf("GET /tag %d times, want twice (once, then again before creating)", n)
	}
	if n := b.kt.Count("POST", "/tag"); n != 1 {
		t.Errorf("POST /tag %d times, want 1 (the missing tag)", n)
	}
	sub, ok := b.kt.Subscriber("t0@example.com")
	if !ok || len(sub.Tags) != 3 {
		t.Errorf("subscriber %+v, want 3 tags", sub)
	}
}

// Jobs running at once that name the same new tag create it once.
func TestConcurrentJobsCreateATagOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 4}})
	for i := 0; i < 8; i++ {
		cs := contacts(fmt.Sprintf("ct%d-", i), 2)
		for _, c := range cs {
			c["tags"] = []any{"launch-2026"}
		}
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("ct-%d", i), "klicktipp", cs), "")
	}
	b.start(t)
	for _, r := range b.results(t, 8, 30*time.Second) {
		if r.Status != jobs.StatusSucceeded {
			t.Errorf("result %+v", r)
		}
	}
	if n := b.kt.Count("POST", "/tag"); n != 1 {
		t.Errorf("POST /tag %d times, want 1", n)
	}
}

func TestItemFailuresMakePartialResult(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	cs := []map[string]any{
		{"email": "ok@example.com"},
		{"email": "bad@"},
		{"email": "nolist@example.com", "listid": 999999},
		{"email": "ctl@example.com", "fields": map[string]string{"fieldFirstName": "a\x01b"}},
	}
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("partial", "klicktipp", cs), "")
	b.start(t)
	r := b.results(t, 1, 20*time.Second)[0]
	if r.Status != jobs.StatusPartial || r.Counts != (jobs.Counts{Total: 4, Succeeded: 1, Failed: 3}) {
		t.Fatalf("result: %+v", r)
	}
	for i, want := range []string{"", "not a valid address", "402", "control characters"} {
		if want != "" && !strings.Contains(r.Items[i].Error, want) {
			t.Errorf("item %d error %q, want it to mention %q", i, r.Items[i].Error, want)
		}
	}
	if b.kt.Count("POST", "/subscriber") != 2 {
		t.Errorf("POST /subscriber %d times; malformed items must not be sent", b.kt.Count("POST", "/subscriber"))
	}
}

func TestValidate1050EmailsIn11Calls(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	emails := make([]string, 1050)
	for i := range emails {
		domain := "example.com"
		if i%3 == 0 {
			domain = "cs.uni.example"
		}
		emails[i] = fmt.Sprintf("u%d@%s", i, domain)
	}
	b.publish(t, "crmsync.jobs.email.validate", map[string]any{"id": "v1", "kind": "email.validate", "emails": emails, "targetGroupIds": []string{"tg_uni"}}, "")
	b.start(t)
	r := b.results(t, 1, 20*time.Second)[0]
	if n := b.ci.Count("POST", "/validate/bulk"); n != 11 {
		t.Errorf("%d bulk calls, want 11", n)
	}
	if r.Counts.Total != 1050 || r.Status != jobs.StatusSucceeded {
		t.Fatalf("counts %+v status %s", r.Counts, r.Status)
	}
	for i, it := range r.Items {
		wantValid := i%3 == 0
		if it.Email != emails[i] || it.IsValid == nil || *it.IsValid != wantValid || it.Reason == "" {
			t.Fatalf("item %d: %+v", i, it)
		}
		if wantValid && it.MatchedDomain != "uni.example" {
			t.Errorf("item %d matchedDomain %q", i, it.MatchedDomain)
		}
	}
}

func TestKlipyUpsert(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("k1", "klipy", []map[string]any{
		{"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "title": "CTO", "source": "backfill"},
		{"email": "bob@example.com", "firstName": "Bob"},
	}), "")
	b.start(t)
	r := b.results(t, 1, 20*time.Second)[0]
	if r.Status != jobs.StatusSucceeded || r.Items[0].PersonID == "" {
		t.Fatalf("result: %+v", r)
	}
	p, ok := b.kl.Person("ann@example.com")
	if !ok || p["title"] != "CTO" || p["source"] != "backfill" {
		t.Errorf("person %+v: keys did not pass through", p)
	}
}

func TestInvalidMessagesAreDeadLettered(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	cases := []struct {
		subject, body, reason, dlq string
	}{
		{"crmsync.jobs.contact.upsert", `not json`, "not JSON", "crmsync.dlq.contact.upsert"},
		{"crmsync.jobs.contact.upsert", `{"kind":"contact.merge","contacts":[{"email":"a@b.example"}]}`, "unknown kind", "crmsync.dlq.invalid"},
		{"crmsync.jobs.email.validate", `{"kind":"contact.upsert","target":"klipy","contacts":[{"email":"a@b.example"}]}`, "does not match subject", "crmsync.dlq.contact.upsert"},
		{"crmsync.jobs.email.validate", `{"kind":"email.validate","emails":[]}`, "no items", "crmsync.dlq.email.validate"},
		{"crmsync.jobs.email.validate", `{"kind":"email.validate","account":"nobody","emails":["a@b.example"]}`, `account "nobody"`, "crmsync.dlq.email.validate"},
	}
	for i, c := range cases {
		b.publish(t, c.subject, c.body, fmt.Sprintf("bad-%d", i))
	}
	b.start(t)
	msgs := b.collect(t, jobs.DLQStream, len(cases), 20*time.Second)
	for _, m := range msgs {
		h := m.Headers()
		var i int
		if _, err := fmt.Sscanf(h.Get(jobs.HeaderJobID), "bad-%d", &i); err != nil || i >= len(cases) {
			t.Fatalf("dead letter with job id %q", h.Get(jobs.HeaderJobID))
		}
		c := cases[i]
		if m.Subject() != c.dlq || string(m.Data()) != c.body {
			t.Errorf("case %d: dead letter on %s with body %q", i, m.Subject(), m.Data())
		}
		if !strings.Contains(h.Get(jobs.HeaderError), c.reason) || h.Get(jobs.HeaderOriginalSubject) != c.subject ||
			h.Get(jobs.HeaderJobID) != fmt.Sprintf("bad-%d", i) || h.Get(jobs.HeaderAttempts) == "" {
			t.Errorf("case %d: headers %v", i, h)
		}
	}
	// Every message whose kind is known also has a failed result: its
	// publisher may be waiting for one.
	for _, r := range b.results(t, len(cases)-1, 10*time.Second) {
		if r.Status != jobs.StatusFailed || !r.DeadLettered || r.Error == "" || r.ID == "bad-1" {
			t.Errorf("result %+v", r)
		}
		if r.ID == "bad-4" && !strings.Contains(r.Error, "nobody") {
			t.Errorf("result for the unknown account: %q", r.Error)
		}
	}
	if n := b.count(t, jobs.JobsStream); n != 0 {
		t.Errorf("%d messages left on the work queue", n)
	}
}

// A message carrying NATS control headers meant for the jobs stream is
// still dead-lettered (they are not copied), under its envelope's id.
func TestDeadLetterDropsControlHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	m := &nats.Msg{Subject: "crmsync.jobs.contact.upsert", Data: []byte(`{"id":"env-id","kind":"contact.upsert","target":"hubspot","contacts":[{"email":"a@b.example"}]}`), Header: nats.Header{}}
	m.Header.Set("Nats-Msg-Id", "msg-id")
	m.Header.Set("Nats-Expected-Stream", jobs.JobsStream)
	m.Header.Set("X-Trace", "abc")
	if _, err := b.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	d := b.collect(t, jobs.DLQStream, 1, 20*time.Second)[0]
	h := d.Headers()
	if h.Get(jobs.HeaderJobID) != "env-id" || h.Get("X-Trace") != "abc" || h.Get("Nats-Expected-Stream") != "" || h.Get(jobs.HeaderOriginalMsgID) != "msg-id" {
		t.Errorf("dead letter headers %v", h)
	}
}

func TestTransientFailuresRetryThenDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	b.kl.SetFaults(apistest.Faults{FailRate: 1}, 1)
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("always-503", "klipy", contacts("f", 2)), "")
	b.start(t)
	m := b.collect(t, jobs.DLQStream, 1, 30*time.Second)[0]
	if got := m.Headers().Get(jobs.HeaderAttempts); got != "3" {
		t.Errorf("%s = %q, want 3", jobs.HeaderAttempts, got)
	}
	if e := m.Headers().Get(jobs.HeaderError); !strings.Contains(e, "gave up after 3 failed attempts") || !strings.Contains(e, "503") {
		t.Errorf("reason %q", e)
	}
	// Each attempt retried the request inline 3 times: 3 attempts × 4 calls.
	if n := b.kl.Count("PUT", "/people"); n != 12 {
		t.Errorf("PUT /people %d times, want 12", n)
	}
}

// Without a checkpoint bucket, failed attempts are counted by deliveries,
// so a job that always fails still ends in the dead-letter stream.
func TestWithoutCheckpointsFailuresStillDeadLetter(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{noKV: true})
	b.kl.SetFaults(apistest.Faults{FailRate: 1}, 1)
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("no-kv", "klipy", contacts("n", 1)), "")
	b.start(t)
	m := b.collect(t, jobs.DLQStream, 1, 30*time.Second)[0]
	if e := m.Headers().Get(jobs.HeaderError); !strings.Contains(e, "gave up after 3 failed attempts") {
		t.Errorf("reason %q", e)
	}
}

func TestFlakyAPIStillFinishes(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	b.kl.SetFaults(apistest.Faults{FailRate: 0.3, ResetRate: 0.05, MalformedRate: 0.05}, 7)
	for i := 0; i < 5; i++ {
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("flaky-%d", i), "klipy", contacts(fmt.Sprintf("fl%d-", i), 20)), "")
	}
	b.start(t)
	for _, r := range b.results(t, 5, 60*time.Second) {
		if r.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: %s %+v", r.ID, r.Status, r.Counts)
		}
	}
	if len(b.kl.People()) != 100 {
		t.Errorf("%d people, want 100", len(b.kl.People()))
	}
	if b.count(t, jobs.DLQStream) != 0 {
		t.Error("dead letters")
	}
}

func TestRateLimitStormNeverDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{MaxAttempts: 2, Hold: 50 * time.Millisecond}})
	// 2 requests per 2 s window with Retry-After: each job of 6 contacts
	// needs several windows, far longer than 2 attempts of 20 ms backoff.
	b.kl.SetRateLimit(apistest.RateLimit{Limit: 2, Window: 2 * time.Second, Headers: true, RetryAfter: true})
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("storm", "klipy", contacts("rl", 6)), "")
	b.start(t)
	r := b.resultResuming(t, b.kl, "PUT", "/people", 60*time.Second)
	if r.Status != jobs.StatusSucceeded || b.count(t, jobs.DLQStream) != 0 {
		t.Fatalf("result %+v, dead letters %d", r, b.count(t, jobs.DLQStream))
	}
	if b.kl.RateLimited() == 0 {
		t.Error("the fake never answered 429: the test proves nothing")
	}
	// Every upsert was sent exactly once: checkpoints kept the done ones.
	if n := len(b.kl.People()); n != 6 {
		t.Errorf("%d people", n)
	}
}

func TestShutdownHandsBackAndResumes(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{ShutdownGrace: 100 * time.Millisecond, Concurrency: 2}})
	b.kt.SetFaults(apistest.Faults{Latency: 20 * time.Millisecond}, 1)
	for i := 0; i < 4; i++ {
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("sd-%d", i), "klicktipp", contacts(fmt.Sprintf("sd%d-", i), 30)), "")
	}
	b.start(t)
	// Stop once some contacts are in, mid-job.
	awaitCond(t, 20*time.Second, func() bool { return len(b.kt.Subscribers()) >= 10 })
	b.stop(t)
	if b.kt.Logins() != b.kt.Logouts() || b.kt.OpenSessions() != 0 {
		t.Fatalf("after shutdown: logins %d logouts %d open %d", b.kt.Logins(), b.kt.Logouts(), b.kt.OpenSessions())
	}
	before := b.kt.Count("POST", "/subscriber")
	if len(b.kt.Subscribers()) == 120 {
		t.Fatal("all done before shutdown: the test proves nothing")
	}
	b.start(t)
	for _, r := range b.results(t, 4, 60*time.Second) {
		if r.Status != jobs.StatusSucceeded || r.Counts.Total != 30 {
			t.Errorf("result %s: %+v", r.ID, r.Counts)
		}
	}
	// Only a request cut off by the shutdown (one per slot) may be sent again.
	total := b.kt.Count("POST", "/subscriber")
	if total < 120 || total > 120+b.cfg.Concurrency {
		t.Errorf("POST /subscriber %d times in all (%d before the restart), want 120 plus at most %d cut off in flight", total, before, b.cfg.Concurrency)
	}
	t.Logf("repeated upserts after shutdown: %d", total-120)
	if b.kt.Logins() != b.kt.Logouts() {
		t.Errorf("logins %d != logouts %d", b.kt.Logins(), b.kt.Logouts())
	}
}

func TestResultIsPublishedOncePerJob(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	// The same message published twice with one Nats-Msg-Id is one job.
	job := upsert("dup", "klipy", contacts("d", 2))
	b.publish(t, "crmsync.jobs.contact.upsert", job, "dup")
	b.publish(t, "crmsync.jobs.contact.upsert", job, "dup")
	b.start(t)
	b.results(t, 1, 20*time.Second)
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	if n := b.count(t, jobs.ResultsStream); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
}

// awaitCond polls cond every 10 ms until it holds, failing after timeout.
func awaitCond(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met in time")
		case <-tick.C:
		}
	}
}

// A job handed back because the credential is blocked still logs out:
// the logout is not held back by the limiter, and a 429 on it is retried
// after the API's Retry-After.
func TestRateLimitHandBackLogsOut(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Hold: 100 * time.Millisecond}})
	// Each attempt spends 3 requests on login, GET /tag and logout; 6 a
	// window leaves room for a few contacts an attempt.
	b.kt.SetRateLimit(apistest.RateLimit{Limit: 6, Window: 2 * time.Second, RetryAfter: true})
	lim, err := limiter.New(limiter.Config{API: "klicktipp", Credential: klicktipptest.Username, Rate: 100, Burst: 10,
		MaxWait: 100 * time.Millisecond, Logger: b.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	hc := apis.NewHTTPClient(2 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	kt, err := klicktipp.New(klicktipp.Config{BaseURL: b.kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	h := &jobs.KlickTippUpsert{Client: kt, CreateTags: true}
	// 15 requests in all: more than two windows hold, so however the
	// first window is aligned, at least one request meets a 429.
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("rl-logout", "klicktipp", contacts("rl", 12)), "")
	b.startWith(t, jobs.RouterFunc(func(*jobs.Job) (jobs.Handler, error) { return h, nil }))
	r := b.resultResuming(t, b.kt, "POST", "/subscriber", 60*time.Second)
	if r.Status != jobs.StatusSucceeded {
		t.Fatalf("result %+v", r)
	}
	b.stop(t)
	if b.kt.RateLimited() == 0 {
		t.Fatal("no 429: the test proves nothing")
	}
	if b.kt.Logins() < 2 || b.kt.Logins() != b.kt.Logouts() || b.kt.OpenSessions() != 0 {
		t.Errorf("logins %d, logouts %d, open %d: a hand-back left a session open", b.kt.Logins(), b.kt.Logouts(), b.kt.OpenSessions())
	}
}

// A 404 from an endpoint that always exists means a wrong base URL: the
// job is dead-lettered with a hint, not acked with every item "failed".
func TestWrongBaseURLDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	hc := apis.NewHTTPClient(2 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	kl, err := klipy.New(klipy.Config{BaseURL: b.kl.URL + "/api/v2", APIKey: klipytest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("wrong-url", "klipy", contacts("w", 3)), "")
	b.startWith(t, jobs.RouterFunc(func(*jobs.Job) (jobs.Handler, error) { return &jobs.KlipyUpsert{Client: kl}, nil }))
	m := b.collect(t, jobs.DLQStream, 1, 20*time.Second)[0]
	if e := m.Headers().Get(jobs.HeaderError); !strings.Contains(e, "404") || !strings.Contains(e, "base URL") {
		t.Errorf("reason %q", e)
	}
}

// Two runners on one durable consumer (two replicas) share the work: every
// job runs once, and both take part.
func TestReplicasShareTheConsumer(t *testing.T) {
	t.Parallel()
	// No periodic lane scan: the replica that did not create the lane
	// learns of it from the server's consumer-created advisory.
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 2, LaneScan: time.Hour}})
	b.kl.SetFaults(apistest.Faults{Latency: 5 * time.Millisecond}, 1)
	const njobs = 20
	for i := 0; i < njobs; i++ {
		b.publish(t, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("rep-%d", i), "klipy", contacts(fmt.Sprintf("rep%d-", i), 5)), "")
	}
	router := b.router(t)
	var mu sync.Mutex
	by := map[int]int{}
	for replica := 1; replica <= 2; replica++ {
		h := jobs.RouterFunc(func(j *jobs.Job) (jobs.Handler, error) {
			mu.Lock()
			by[replica]++
			mu.Unlock()
			return router.Route(j)
		})
		r, err := jobs.NewRunner(b.js, b.cons, nil, h, b.cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("replica %d: %v", replica, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("replica %d: Run did not return within 30s of cancel", replica)
			}
		})
	}
	seen := map[string]bool{}
	for _, r := range b.results(t, njobs, 30*time.Second) {
		if seen[r.ID] || r.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: duplicate %v, status %s", r.ID, seen[r.ID], r.Status)
		}
		seen[r.ID] = true
	}
	if len(b.kl.People()) != njobs*5 || b.kl.Count("PUT", "/people") != njobs*5 {
		t.Errorf("%d people from %d upserts, want %d of each", len(b.kl.People()), b.kl.Count("PUT", "/people"), njobs*5)
	}
	mu.Lock()
	defer mu.Unlock()
	if by[1] == 0 || by[2] == 0 {
		t.Errorf("jobs per replica %v: one replica did nothing", by)
	}
}
