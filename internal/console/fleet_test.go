package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/console"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestLimitsReadWhatTheLimiterWrites checks the console's reading of
// CRMSYNC_LIMITS against a real limiter sharing through it: a 429 with
// Retry-After is a block with its cause and reset, and the budget spent is
// seen.
func TestLimitsReadWhatTheLimiterWrites(t *testing.T) {
	var shared atomic.Pointer[[]console.Credential]
	b := setup(t, console.Config{Credentials: func() []console.Credential {
		if p := shared.Load(); p != nil {
			return *p
		}
		return nil
	}})
	ctx := ctxT(t)
	kv, err := limiter.EnsureBucket(ctx, b.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg := limiter.NewRegistry(limiter.Config{KV: kv})
	t.Cleanup(func() { _ = reg.Close() })
	l, err := reg.For("klipy", "klipy_secret_key_1", 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	creds := []console.Credential{{Key: l.API() + "." + l.ID(), API: "klipy", Accounts: []string{"acme"}, Rate: 1, Burst: 5}}
	shared.Store(&creds)
	got := awaitLimit(t, b.js, creds, func(l console.Limit) bool { return l.Left >= 0 && l.Left < 5 })
	if got.Left > 3.5 || got.Accounts[0] != "acme" {
		t.Errorf("after 2 grants at 1/s burst 5: %+v, want about 3 tokens left for acme", got)
	}
	l.Observe(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	got = awaitLimit(t, b.js, creds, func(l console.Limit) bool { return !l.BlockedUntil.IsZero() })
	if got.Cause == "" || time.Until(got.BlockedUntil) < 100*time.Second || got.Left != 0 {
		t.Errorf("after a 429 with Retry-After 120: %+v, want blocked about 2 min with a cause and no budget", got)
	}
	if strings.Contains(got.Key, "klipy_secret_key_1") || strings.Contains(got.ID, "secret") {
		t.Errorf("the limit shows the credential: %+v", got)
	}
	// The Overview shows the block.
	_, page := b.do(b.client(), "GET", "/console/", nil, nil)
	if !strings.Contains(page, "blocked") || !strings.Contains(page, "acme") {
		t.Errorf("overview lacks the block of acme")
	}
}

func awaitLimit(t *testing.T, js jetstream.JetStream, creds []console.Credential, ok func(console.Limit) bool) console.Limit {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ls, err := console.Limits(ctxT(t), js, creds, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 1 && ok(ls[0]) {
			return ls[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("limits %+v: condition not met within 10s", ls)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
}

func TestLanesShowDepthAndOldestJob(t *testing.T) {
	b := setup(t, console.Config{})
	ctx := ctxT(t)
	before := time.Now().Add(-time.Second)
	for i := range 3 {
		if _, err := b.js.Publish(ctx, jobs.KindContactUpsert.Subject(), []byte(`{"id":"x`+string(rune('a'+i))+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer's pending count follows a publish within milliseconds.
	var lanes []console.Lane
	eventually(t, "3 pending", func() bool {
		var err error
		if lanes, err = console.Lanes(ctx, b.js); err != nil {
			t.Fatal(err)
		}
		return len(lanes) == 1 && lanes[0].Pending == 3
	})
	if len(lanes) != 1 || lanes[0].Name != jobs.Consumer || lanes[0].Pending != 3 || lanes[0].API != "" {
		t.Fatalf("lanes %+v, want the intake consumer with 3 pending", lanes)
	}
	if lanes[0].Oldest.Before(before) || time.Since(lanes[0].Oldest) > 10*time.Second {
		t.Errorf("oldest %v, want the first job's time", lanes[0].Oldest)
	}
}

// eventually polls cond every 10 ms until it holds, for at most 10 s: for
// state NATS updates asynchronously, with no event to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal("test ended")
		}
	}
}

func TestParseLaneSubjects(t *testing.T) {
	for _, tc := range []struct{ subject, api, account, prio string }{
		{"crmsync.lanes.klicktipp.acme.live", "klicktipp", "acme", "live"},
		{"crmsync.lanes.clickyid.default.backfill", "clickyid", "default", "backfill"},
		{"crmsync.lanes.klipy.acme.>", "klipy", "acme", ""},
		{"crmsync.lanes.>", "", "", ""},
		{"crmsync.jobs.>", "", "", ""},
	} {
		api, acct, prio := console.ParseLane(tc.subject)
		if api != tc.api || acct != tc.account || prio != tc.prio {
			t.Errorf("ParseLane(%q) = %q %q %q, want %q %q %q", tc.subject, api, acct, prio, tc.api, tc.account, tc.prio)
		}
	}
}

func TestHeartbeatIsSeenAndGoneAtStop(t *testing.T) {
	b := setup(t, console.Config{})
	kv, err := console.EnsureReplicas(ctxT(t), b.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		console.Heartbeat(ctx, kv, console.Replica{ID: "host.a-1", Host: "host.a"}, func() (bool, string) { return true, "" }, nil)
	}()
	eventually(t, "the heartbeat seen", func() bool {
		rs, err := console.Replicas(ctxT(t), b.js)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs) == 1 && rs[0].ID == "host.a-1" && rs[0].Ready && time.Since(rs[0].Seen) < 10*time.Second
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Heartbeat did not return within 10s of its context ending")
	}
	rs, err := console.Replicas(ctxT(t), b.js)
	if err != nil || len(rs) != 0 {
		t.Errorf("after stop: %+v %v, want no replica", rs, err)
	}
}

// publishResult stores a result as the runner does.
func publishResult(t *testing.T, js jetstream.JetStream, r jobs.Result) {
	t.Helper()
	data, _ := json.Marshal(r)
	m := &nats.Msg{Subject: jobs.ResultsPrefix + string(r.Kind), Data: data, Header: nats.Header{}}
	m.Header.Set(jobs.HeaderJobID, r.ID)
	if _, err := js.PublishMsg(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
}

func TestBackfillProgressAndFailedItemsCSV(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	ctx := ctxT(t)
	kv, err := backfill.EnsureRecords(ctx, b.js, backfill.RecordsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const id = "import-1"
	if err := backfill.SaveRecord(ctx, kv, backfill.Record{ID: id, Kind: jobs.KindContactUpsert, Target: "klicktipp", Account: "default",
		Jobs: 4, Items: 8, Source: "people.csv", Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	publishResult(t, b.js, jobs.Result{ID: backfill.JobID(id, 1), Kind: jobs.KindContactUpsert, Target: "klicktipp", Status: jobs.StatusPartial,
		Finished: now, Counts: jobs.Counts{Total: 2, Succeeded: 1, Failed: 1},
		Items: []jobs.ItemResult{{Email: "ok@example.com", OK: true}, {Email: "=HYPERLINK(\"x\")", Error: "klicktipp: 406 error 5: invalid email"}}})
	publishResult(t, b.js, jobs.Result{ID: backfill.JobID(id, 2), Kind: jobs.KindContactUpsert, Target: "klicktipp", Status: jobs.StatusSucceeded,
		Finished: now, Counts: jobs.Counts{Total: 2, Succeeded: 2}, Items: []jobs.ItemResult{{Email: "a@example.com", OK: true}, {Email: "b@example.com", OK: true}}})
	b.deadLetter(jobs.KindContactUpsert, backfill.JobID(id, 3), "default", "klicktipp: 401 bad credentials")
	// Another backfill's result is not counted.
	publishResult(t, b.js, jobs.Result{ID: "other-000001", Kind: jobs.KindContactUpsert, Status: jobs.StatusSucceeded, Finished: now, Counts: jobs.Counts{Total: 1, Succeeded: 1}})

	bs, err := console.Backfills(ctx, b.js)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].Summary.Seen != 3 || bs[0].Percent() != 75 || bs[0].Summary.ItemsFailed != 2 || bs[0].Summary.ItemsSucceeded != 3 {
		t.Fatalf("backfills %+v, want 3 of 4 jobs (75 %%), 3 items succeeded and 2 failed", bs)
	}
	c := b.client()
	b.login(c)
	_, page := b.do(c, "GET", "/console/backfills", nil, nil)
	if !strings.Contains(page, `<progress max="100" value="75">`) || !strings.Contains(page, "3 of 4 jobs finished") || !strings.Contains(page, "people.csv") {
		t.Errorf("backfills page lacks the progress:\n%s", page)
	}
	resp, body := b.do(c, "GET", "/console/backfills/"+id+"/failed.csv", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"email", "reason", "job"},
		{`'=HYPERLINK("x")`, "klicktipp: 406 error 5: invalid email", backfill.JobID(id, 1)},
		{backfill.JobID(id, 3) + "@example.com", "job dead-lettered: klicktipp: 401 bad credentials", backfill.JobID(id, 3)}}
	if len(rows) != len(want) {
		t.Fatalf("CSV rows %q, want %q", rows, want)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("CSV row %d = %q, want %q", i, rows[i], want[i])
		}
	}
}

func TestReplayFilteredSetAndJobPage(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	b.deadLetter(jobs.KindContactUpsert, "a1", "acme", "klipy: 401 unauthorized")
	b.deadLetter(jobs.KindContactUpsert, "a2", "acme", "klipy: 500 server error")
	b.deadLetter(jobs.KindContactUpsert, "d1", "default", "klipy: 401 unauthorized")
	c := b.client()
	token := b.login(c)

	_, page := b.do(c, "GET", "/console/dlq?account=acme&reason=401", nil, nil)
	if !strings.Contains(page, ">a1<") || strings.Contains(page, ">a2<") || strings.Contains(page, ">d1<") {
		t.Errorf("filter account=acme reason=401 shows the wrong letters:\n%s", page)
	}
	resp, page := b.do(c, "GET", "/console/dlq/confirm?action=replay&set=1&account=acme&reason=401", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "Replay these 1 dead letters") {
		t.Fatalf("confirmation: %d\n%s", resp.StatusCode, page)
	}
	resp, page = b.do(c, "POST", "/console/dlq/replay", url.Values{"csrf": {token}, "set": {"1"}, "account": {"acme"}, "reason": {"401"}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "1 of 1 dead letters replayed") {
		t.Fatalf("replay: %d\n%s", resp.StatusCode, page)
	}
	if n := b.count(jobs.DLQStream); n != 2 {
		t.Errorf("dead letters left: %d, want 2", n)
	}
	if n := b.count(jobs.JobsStream); n != 1 {
		t.Errorf("jobs queued: %d, want the replayed one", n)
	}
	if a := b.audit.String(); !strings.Contains(a, `action="dlq replay" outcome=ok`) || !strings.Contains(a, "seq=1 job=a1") {
		t.Errorf("replay not audit-logged:\n%s", b.audit.String())
	}
	_, page = b.do(c, "GET", "/console/jobs/a1", nil, nil)
	if !strings.Contains(page, "<h2>Queued</h2>") || !strings.Contains(page, "crmsync.jobs.contact.upsert") {
		t.Errorf("job page lacks the queued replay:\n%s", page)
	}
	_, page = b.do(c, "GET", "/console/jobs/a2", nil, nil)
	if !strings.Contains(page, "Dead letters") || !strings.Contains(page, "500 server error") {
		t.Errorf("job page lacks the dead letter:\n%s", page)
	}
}

// TestBackfillsPageReadsOnlyWhatIsNew: the console's index sees results
// stored after its last read, and a backfill recorded after its results.
func TestBackfillsPageReadsOnlyWhatIsNew(t *testing.T) {
	b := setup(t, console.Config{Password: password})
	ctx := ctxT(t)
	kv, err := backfill.EnsureRecords(ctx, b.js, backfill.RecordsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	record := func(id string, n int) {
		if err := backfill.SaveRecord(ctx, kv, backfill.Record{ID: id, Kind: jobs.KindEmailValidate, Account: "default", Jobs: n, Items: n, Source: id + ".txt", Created: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	result := func(id string, n int) {
		publishResult(t, b.js, jobs.Result{ID: backfill.JobID(id, n), Kind: jobs.KindEmailValidate, Status: jobs.StatusSucceeded,
			Finished: time.Now().UTC(), Counts: jobs.Counts{Total: 1, Succeeded: 1}})
	}
	c := b.client()
	b.login(c)
	page := func() string { _, p := b.do(c, "GET", "/console/backfills", nil, nil); return p }
	record("alpha", 2)
	result("alpha", 1)
	if p := page(); !strings.Contains(p, "1 of 2 jobs finished") {
		t.Fatalf("first read:\n%s", p)
	}
	result("alpha", 2)
	result("beta", 1) // before beta's record, as when jobs finish before enqueue records them
	result("beta", 2)
	if p := page(); !strings.Contains(p, "2 of 2 jobs finished") {
		t.Fatalf("second read lacks alpha's new result:\n%s", p)
	}
	record("beta", 3)
	result("alpha", 2) // a duplicate: not counted twice
	p := page()
	if !strings.Contains(p, `data-backfill="beta"`) || !strings.Contains(p, "2 of 3 jobs finished") || strings.Contains(p, "3 of 2") {
		t.Fatalf("third read: beta's earlier results or alpha's duplicate miscounted:\n%s", p)
	}
}

// TestOverviewAttributesLaneConsumers lays out CRMSYNC_JOBS as the lanes
// work does (lane subjects crmsync.lanes.<api>.<account>.<priority>, one
// durable consumer per lane beside the intake's) and checks that the
// Overview counts a lane's jobs under its API and account.
func TestOverviewAttributesLaneConsumers(t *testing.T) {
	b := setup(t, console.Config{})
	ctx := ctxT(t)
	cfg := jobs.Streams(jobs.StreamConfig{})[0]
	if !slices.Contains(cfg.Subjects, console.LanePrefix+">") { // jobs.Streams has it since lanes
		cfg.Subjects = append(cfg.Subjects, console.LanePrefix+">")
	}
	if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	const lane = console.LanePrefix + "klicktipp.acme.live"
	if _, err := b.js.CreateOrUpdateConsumer(ctx, jobs.JobsStream, jetstream.ConsumerConfig{
		Durable: "lane-klicktipp-acme-live", FilterSubject: lane, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := b.js.Publish(ctx, lane, []byte(`{"id":"live-`+string(rune('a'+i))+`","kind":"contact.upsert","target":"klicktipp","account":"acme"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var page string
	eventually(t, "the lane's 2 jobs on the overview", func() bool {
		_, page = b.do(b.client(), "GET", "/console/", nil, nil)
		return regexp.MustCompile(`<td data-label="API">klicktipp</td><td data-label="Account">acme</td>\s*<td class="r" data-label="Queued">2</td>`).MatchString(page)
	})
	if !strings.Contains(page, "klicktipp · acme · live") {
		t.Errorf("lanes table lacks the lane's API, account and priority:\n%s", page)
	}
	if regexp.MustCompile(`data-label="Queued">2</td>\s*<td class="r" data-label="In flight">0</td>\s*<td data-label="Oldest">–</td>`).MatchString(page) {
		t.Error("the lane's oldest job has no age")
	}
}
