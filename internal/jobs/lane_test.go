package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
	"crmsync/internal/metrics"
)

// recorder is a handler that records the order jobs start in, whether
// their context carries the backfill mark, and how many run at once; it
// succeeds every item, after gate (if set) lets the job go on.
type recorder struct {
	mu       sync.Mutex
	started  []string
	backfill map[string]bool
	running  map[string]int // by API
	most     map[string]int
	all, top int
	gate     func(job *jobs.Job) <-chan struct{}
	work     time.Duration // each job takes this long (a fetch round trip is far shorter)
	startedC chan string
	at       []time.Time // when each job in started started
}

func newRecorder() *recorder {
	return &recorder{backfill: map[string]bool{}, running: map[string]int{}, most: map[string]int{}, startedC: make(chan string, 1000)}
}

func (rc *recorder) Route(*jobs.Job) (jobs.Handler, error) { return rc, nil }

func (rc *recorder) Handle(ctx context.Context, job *jobs.Job, a *jobs.Attempt) error {
	rc.mu.Lock()
	rc.started = append(rc.started, job.ID)
	rc.at = append(rc.at, time.Now())
	rc.backfill[job.ID] = apis.IsBackfill(ctx)
	rc.running[job.API()]++
	rc.most[job.API()] = max(rc.most[job.API()], rc.running[job.API()])
	rc.all++
	rc.top = max(rc.top, rc.all)
	rc.mu.Unlock()
	rc.startedC <- job.ID
	defer func() {
		rc.mu.Lock()
		rc.running[job.API()]--
		rc.all--
		rc.mu.Unlock()
	}()
	if rc.gate != nil {
		if g := rc.gate(job); g != nil {
			select {
			case <-g:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if rc.work > 0 {
		w := time.NewTimer(rc.work)
		defer w.Stop()
		select {
		case <-w.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, i := range a.Pending() {
		a.Succeed(i, jobs.ItemResult{})
	}
	return nil
}

func (rc *recorder) order() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.started...)
}

// awaitStart waits for the job id to start, failing after timeout.
func (rc *recorder) awaitStart(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case got := <-rc.startedC:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("job %s did not start within %s; started: %v", id, timeout, rc.order())
		}
	}
}

// publishP publishes job with the Crmsync-Priority header prio ("" for none).
func (b *bundle) publishP(t testing.TB, job map[string]any, prio string) {
	t.Helper()
	data := mustJSON(t, job)
	m := &nats.Msg{Subject: "crmsync.jobs." + job["kind"].(string), Data: data, Header: nats.Header{}}
	m.Header.Set("Nats-Msg-Id", job["id"].(string))
	if prio != "" {
		m.Header.Set(jobs.HeaderPriority, prio)
	}
	if _, err := b.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func validate(id string, n int) map[string]any {
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("%s-%d@example.com", id, i)
	}
	return map[string]any{"id": id, "kind": "email.validate", "emails": emails}
}

// laneInfo returns the lane consumer's info, or nil when it does not exist.
func (b *bundle) laneInfo(t testing.TB, name string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := b.js.Consumer(context.Background(), jobs.JobsStream, name)
	if err != nil {
		return nil
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return nil
	}
	return info
}

// A live job published behind a full backfill of the same credential
// starts before any further backfill job of it, even with one slot and no
// slot reserved for live jobs; the backfill jobs' contexts carry the
// backfill mark, the live job's does not.
func TestLiveJobOvertakesBackfill(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 1, LiveSlots: -1}})
	rc := newRecorder()
	release := make(chan struct{})
	rc.gate = func(j *jobs.Job) <-chan struct{} {
		if j.ID == "bf-0" {
			return release
		}
		return nil
	}
	for i := 0; i < 6; i++ {
		b.publishP(t, upsert(fmt.Sprintf("bf-%d", i), "klipy", contacts(fmt.Sprintf("bf%d-", i), 2)), jobs.PriorityBackfill)
	}
	b.startWith(t, rc)
	rc.awaitStart(t, "bf-0", 20*time.Second)
	b.publishP(t, upsert("live", "klipy", contacts("live-", 2)), "")
	// The live job is on its lane, fetched and waiting for the slot.
	awaitCond(t, 20*time.Second, func() bool {
		info := b.laneInfo(t, "crmsync-lane-klipy-default-live")
		return info != nil && info.NumAckPending == 1
	})
	close(release)
	b.results(t, 7, 30*time.Second)
	got := rc.order()
	if len(got) < 2 || got[1] != "live" {
		t.Fatalf("start order %v: the live job did not start right after the running backfill job", got)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id, bf := range rc.backfill {
		if bf != strings.HasPrefix(id, "bf-") {
			t.Errorf("job %s: apis.IsBackfill(ctx) = %v", id, bf)
		}
	}
}

// A job for API B starts while API A's jobs wait on A's rate limit: A's
// waiting jobs do not fill the pool.
func TestOtherAPIStartsWhileOneIsRateLimited(t *testing.T) {
	t.Parallel()
	// Each klipy job waits in its slot (Hold 10 s) for A's block.
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 4, LiveSlots: -1, Hold: 10 * time.Second, ShutdownGrace: 100 * time.Millisecond}})
	b.kl.SetRateLimit(apistest.RateLimit{Limit: 2, Window: 5 * time.Second, Headers: true, RetryAfter: true})
	lim, err := limiter.New(limiter.Config{API: "klipy", Credential: klipytest.DefaultAPIKey, Rate: 100, Burst: 10, MaxWait: 10 * time.Second, Logger: b.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lim.Close() })
	hc := apis.NewHTTPClient(2 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	kl, err := klipy.New(klipy.Config{BaseURL: b.kl.URL, APIKey: klipytest.DefaultAPIKey, HTTPClient: hc, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := clickyid.New(clickyid.Config{BaseURL: b.ci.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	b.cfg.Pace = func(c jobs.Credential) time.Duration {
		if c.API == jobs.APIKlipy {
			return lim.Delay()
		}
		return 0
	}
	for i := 0; i < 8; i++ {
		b.publishP(t, upsert(fmt.Sprintf("a-%d", i), "klipy", contacts(fmt.Sprintf("a%d-", i), 4)), jobs.PriorityBackfill)
	}
	b.publishP(t, validate("b", 3), jobs.PriorityBackfill)
	b.startWith(t, jobs.RouterFunc(func(j *jobs.Job) (jobs.Handler, error) {
		if j.Kind == jobs.KindEmailValidate {
			return &jobs.ClickyIDValidate{Client: ci}, nil
		}
		return &jobs.KlipyUpsert{Client: kl}, nil
	}))
	first := b.results(t, 1, 20*time.Second)[0]
	if first.ID != "b" {
		t.Fatalf("first result is %s: the ClickyID job waited behind klipy's rate limit", first.ID)
	}
	if lim.Delay() == 0 {
		t.Fatal("klipy was not rate limited when the ClickyID job finished: the test proves nothing")
	}
}

// Two accounts' backfills share the slots: the second account's jobs start
// while the first's are still queued.
func TestAccountsBackfillsInterleave(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 1, LiveSlots: -1,
		Credentials: []jobs.Credential{{API: jobs.APIKlipy, Account: "default"}, {API: jobs.APIKlipy, Account: "acme"}}}})
	rc := newRecorder()
	rc.work = 50 * time.Millisecond
	for i := 0; i < 10; i++ {
		b.publishP(t, upsert(fmt.Sprintf("default-%d", i), "klipy", contacts(fmt.Sprintf("d%d-", i), 1)), jobs.PriorityBackfill)
	}
	for i := 0; i < 10; i++ {
		j := upsert(fmt.Sprintf("acme-%d", i), "klipy", contacts(fmt.Sprintf("a%d-", i), 1))
		j["account"] = "acme"
		b.publishP(t, j, jobs.PriorityBackfill)
	}
	b.startWith(t, rc)
	b.results(t, 20, 30*time.Second)
	got := rc.order()
	// acme's first job starts before default's backlog is through, and the
	// eight starts after it are shared (a lane whose next job is still
	// being fetched may miss a turn, so not strictly alternating).
	first := slices.IndexFunc(got, func(id string) bool { return strings.HasPrefix(id, "acme-") })
	if first < 0 || first >= 9 {
		t.Fatalf("start order %v: acme's backfill waited behind default's", got)
	}
	acme := 0
	for _, id := range got[first+1 : first+9] {
		if strings.HasPrefix(id, "acme-") {
			acme++
		}
	}
	if acme < 3 || acme > 5 {
		t.Fatalf("start order %v: %d of the 8 starts after acme's first were acme's; want them shared", got, acme)
	}
}

// A backfill whose jobs hold every backfill slot for long yields one slot
// to a second account's backfill within seconds; the yielded job resumes
// later and every job still finishes once.
func TestLongBackfillYieldsToSecondAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 2, LiveSlots: -1}})
	rc := newRecorder()
	release := make(chan struct{})
	rc.gate = func(j *jobs.Job) <-chan struct{} {
		if j.Account == "default" {
			return release
		}
		return nil
	}
	for i := 0; i < 4; i++ {
		b.publishP(t, upsert(fmt.Sprintf("long-%d", i), "klipy", contacts(fmt.Sprintf("long%d-", i), 2)), jobs.PriorityBackfill)
	}
	b.startWith(t, rc)
	awaitCond(t, 20*time.Second, func() bool { return len(rc.order()) >= 2 })
	j := upsert("acme-0", "klipy", contacts("acme-", 2))
	j["account"] = "acme"
	b.publishP(t, j, jobs.PriorityBackfill)
	rc.awaitStart(t, "acme-0", 10*time.Second) // while default's jobs still hold their slots
	close(release)
	seen := map[string]bool{}
	for _, r := range b.results(t, 5, 30*time.Second) {
		if seen[r.ID] || r.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: duplicate %v, status %s", r.ID, seen[r.ID], r.Status)
		}
		seen[r.ID] = true
	}
}

// WORKER_CONCURRENCY_<API> caps one API's jobs and WORKER_LIVE_SLOTS keeps
// slots for live jobs.
func TestAPICapAndLiveSlots(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 3, LiveSlots: 1, APIConcurrency: map[string]int{jobs.APIClickyID: 1}}})
	rc := newRecorder()
	release := make(chan struct{})
	rc.gate = func(*jobs.Job) <-chan struct{} { return release }
	for i := 0; i < 4; i++ {
		b.publishP(t, validate(fmt.Sprintf("v-%d", i), 1), "")
	}
	for i := 0; i < 4; i++ {
		b.publishP(t, upsert(fmt.Sprintf("bf-%d", i), "klipy", contacts(fmt.Sprintf("bf%d-", i), 1)), jobs.PriorityBackfill)
	}
	b.startWith(t, rc)
	// 2 backfill jobs (3 slots, 1 kept for live) and 1 clickyid job (its cap).
	for n := 0; n < 3; n++ {
		select {
		case <-rc.startedC:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d jobs started: %v", n, rc.order())
		}
	}
	close(release)
	b.results(t, 8, 30*time.Second)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.most[jobs.APIClickyID] != 1 {
		t.Errorf("%d clickyid jobs ran at once, cap 1", rc.most[jobs.APIClickyID])
	}
	if rc.top > 3 {
		t.Errorf("%d jobs ran at once, 3 slots", rc.top)
	}
	bf := 0
	for _, id := range rc.started[:3] {
		if strings.HasPrefix(id, "bf-") {
			bf++
		}
	}
	if bf != 2 {
		t.Errorf("first three starts %v: want 2 backfill jobs (one slot kept for live) and the clickyid one", rc.started[:3])
	}
}

// A lane ramps up (one start per 250 ms in its first second) while its
// credential's budget is scarce, and fills its slots at once when the
// budget has room for many requests per job: an unlimited credential's
// jobs do not queue behind a ramp meant to let pacing show.
func TestRampOnlyWhileTheBudgetIsScarce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		room int
	}{{"scarce", 10}, {"plentiful", 1 << 20}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts{cfg: jobs.Config{Concurrency: 4, LiveSlots: -1}})
			b.cfg.Pace = func(jobs.Credential) time.Duration { return 0 }
			b.cfg.Room = func(jobs.Credential) int { return c.room }
			rc := newRecorder()
			release := make(chan struct{})
			rc.gate = func(*jobs.Job) <-chan struct{} { return release }
			for i := 0; i < 4; i++ {
				b.publishP(t, validate(fmt.Sprintf("%s-%d", c.name, i), 1), "")
			}
			b.startWith(t, rc)
			for n := 0; n < 4; n++ {
				select {
				case <-rc.startedC:
				case <-time.After(20 * time.Second):
					t.Fatalf("only %d of 4 jobs started: %v", n, rc.order())
				}
			}
			close(release)
			b.results(t, 4, 30*time.Second)
			rc.mu.Lock()
			defer rc.mu.Unlock()
			shortest := time.Hour
			for i := 1; i < len(rc.at); i++ {
				shortest = min(shortest, rc.at[i].Sub(rc.at[i-1]))
			}
			// The ramp's 250 ms is a floor the scheduler keeps between its
			// starts (the handlers' clocks, read a goroutine later, may see
			// a little less); without it, the next start follows a fetch
			// round trip.
			if ramped := shortest >= 200*time.Millisecond; ramped != (c.room < 400) {
				t.Errorf("room %d: shortest gap between starts %s, want ramped=%v", c.room, shortest, c.room < 400)
			}
		})
	}
}

// A lane consumer deleted by hand is recreated and loses nothing: every
// job still finishes, once.
func TestDeletedLaneConsumerIsRecreated(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 2, LaneScan: 100 * time.Millisecond}})
	b.kl.SetFaults(apistest.Faults{Latency: 20 * time.Millisecond}, 1)
	const n = 12
	for i := 0; i < n; i++ {
		b.publishP(t, upsert(fmt.Sprintf("del-%d", i), "klipy", contacts(fmt.Sprintf("del%d-", i), 3)), jobs.PriorityBackfill)
	}
	b.start(t)
	follow := b.follow(t, jobs.ResultsStream)
	follow.next(t, 2, 20*time.Second)
	const name = "crmsync-lane-klipy-default-backfill"
	if err := b.js.DeleteConsumer(context.Background(), jobs.JobsStream, name); err != nil {
		t.Fatalf("delete lane consumer: %v", err)
	}
	follow.next(t, n-2, 30*time.Second)
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	if got := b.count(t, jobs.ResultsStream); got != n {
		t.Errorf("%d results, want %d", got, n)
	}
	if b.laneInfo(t, name) == nil {
		t.Error("the lane consumer was not recreated")
	}
	if len(b.kl.People()) != n*3 {
		t.Errorf("%d people, want %d", len(b.kl.People()), n*3)
	}
}

// A crash (the connection gone mid-run, nothing acked or published after)
// and a restart: every job finishes exactly once, with one result.
func TestCrashMidRunEveryJobOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 4, ShutdownGrace: 50 * time.Millisecond}})
	b.kl.SetFaults(apistest.Faults{Latency: 5 * time.Millisecond}, 1)
	const n = 30
	for i := 0; i < n; i++ {
		prio := jobs.PriorityBackfill
		if i%5 == 0 {
			prio = jobs.PriorityLive
		}
		b.publishP(t, upsert(fmt.Sprintf("crash-%d", i), "klipy", contacts(fmt.Sprintf("crash%d-", i), 4)), prio)
	}
	router := b.router(t)
	// The first runner has its own connection, closed under it.
	nc, js := b.srv.Connect(t)
	cons, err := js.Consumer(context.Background(), jobs.JobsStream, jobs.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := jobs.EnsureCheckpoints(context.Background(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := jobs.NewRunner(js, cons, kv, router, b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	awaitCond(t, 20*time.Second, func() bool { return len(b.kl.People()) >= 20 })
	nc.Close() // the crash: from here nothing of the first runner reaches the server
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the crashed runner did not return")
	}
	if b.count(t, jobs.ResultsStream) == n {
		t.Fatal("every job finished before the crash: the test proves nothing")
	}
	b.startWith(t, router)
	seen := map[string]bool{}
	for _, res := range b.results(t, n, 60*time.Second) {
		if seen[res.ID] || res.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: duplicate %v, status %s", res.ID, seen[res.ID], res.Status)
		}
		seen[res.ID] = true
	}
	awaitCond(t, 20*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	if got := b.count(t, jobs.ResultsStream); got != n {
		t.Errorf("%d results, want %d (one per job)", got, n)
	}
	if len(b.kl.People()) != n*4 {
		t.Errorf("%d people, want %d", len(b.kl.People()), n*4)
	}
}

// A CRMSYNC_JOBS made by a worker before lanes (crmsync.jobs.> only) gains
// the lane subjects, and the jobs queued in it run.
func TestSetupUpgradesAnOldJobsStream(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	ctx := context.Background()
	if err := b.js.DeleteStream(ctx, jobs.JobsStream); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: jobs.JobsStream, Subjects: []string{"crmsync.jobs.>"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.CreateOrUpdateConsumer(ctx, jobs.JobsStream, jetstream.ConsumerConfig{Durable: jobs.Consumer,
		FilterSubject: "crmsync.jobs.>", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Second, MaxDeliver: -1}); err != nil {
		t.Fatal(err)
	}
	b.publish(t, "crmsync.jobs.contact.upsert", upsert("old", "klipy", contacts("old", 2)), "old")
	var err error
	if b.cons, err = jobs.Setup(ctx, b.js, jobs.StreamConfig{AckWait: b.cfg.AckWait}); err != nil {
		t.Fatal(err)
	}
	s, err := b.js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if subj := s.CachedInfo().Config.Subjects; len(subj) != 2 || subj[1] != jobs.LanesSubjects {
		t.Errorf("subjects %v", subj)
	}
	if s.CachedInfo().Config.MaxBytes != jobs.DefaultJobsMaxBytes {
		t.Errorf("MaxBytes %d", s.CachedInfo().Config.MaxBytes)
	}
	b.start(t)
	if r := b.results(t, 1, 20*time.Second)[0]; r.ID != "old" || r.Status != jobs.StatusSucceeded {
		t.Errorf("result %+v", r)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A jobs stream filled to JOBS_MAX_BYTES by intake messages alone (the
// workers were down) has no room to move one onto a lane: those jobs run
// from the intake, so the stream still drains.
func TestFullJobsStreamStillDrains(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{})
	var err error
	if b.cons, err = jobs.Setup(context.Background(), b.js, jobs.StreamConfig{AckWait: b.cfg.AckWait, JobsMaxBytes: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 1000; n++ {
		m := &nats.Msg{Subject: "crmsync.jobs.contact.upsert", Data: mustJSON(t, upsert(fmt.Sprintf("full-%d", n), "klipy", contacts(fmt.Sprintf("full%d-", n), 3))), Header: nats.Header{}}
		m.Header.Set(jobs.HeaderPriority, jobs.PriorityBackfill)
		if _, err := b.js.PublishMsg(context.Background(), m); err != nil {
			break // full
		}
	}
	if n == 0 || n == 1000 {
		t.Fatalf("%d jobs fit: the stream limit did not apply", n)
	}
	b.start(t)
	seen := map[string]bool{}
	for _, r := range b.results(t, n, 30*time.Second) {
		if seen[r.ID] || r.Status != jobs.StatusSucceeded {
			t.Errorf("result %s: duplicate %v, status %s", r.ID, seen[r.ID], r.Status)
		}
		seen[r.ID] = true
	}
	awaitCond(t, 10*time.Second, func() bool { return b.count(t, jobs.JobsStream) == 0 })
}

// The lane metrics: pending, in flight, oldest-job age and the
// publish-to-start histogram, by lane and priority.
func TestLaneMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(nil)
	b := setup(t, opts{cfg: jobs.Config{Concurrency: 2, LaneScan: 50 * time.Millisecond, Metrics: m}})
	rc := newRecorder()
	release := make(chan struct{})
	rc.gate = func(j *jobs.Job) <-chan struct{} { return release }
	for i := 0; i < 5; i++ {
		b.publishP(t, upsert(fmt.Sprintf("m-%d", i), "klipy", contacts(fmt.Sprintf("m%d-", i), 1)), jobs.PriorityBackfill)
	}
	b.publishP(t, validate("m-live", 1), "")
	b.startWith(t, rc)
	bf := []string{"klipy", "default", "backfill"}
	awaitCond(t, 20*time.Second, func() bool {
		return testutil.ToFloat64(m.LaneInFlight.WithLabelValues(bf...)) == 1 &&
			testutil.ToFloat64(m.LaneInFlight.WithLabelValues("clickyid", "default", "live")) == 1 &&
			testutil.ToFloat64(m.LanePending.WithLabelValues(bf...)) >= 2 && // one running, two fetched (the head and the one behind it)
			testutil.ToFloat64(m.LaneOldestAge.WithLabelValues(bf...)) > 0
	})
	for _, l := range [][]string{{"klipy", "backfill"}, {"clickyid", "live"}} {
		var d dto.Metric
		if err := m.JobStartDelay.WithLabelValues(l...).(prometheus.Histogram).Write(&d); err != nil {
			t.Fatal(err)
		}
		if n := d.GetHistogram().GetSampleCount(); n != 1 {
			t.Errorf("start delay %v: %d samples, want 1", l, n)
		}
	}
	close(release)
	b.results(t, 6, 20*time.Second)
	awaitCond(t, 20*time.Second, func() bool {
		return testutil.ToFloat64(m.LaneInFlight.WithLabelValues(bf...)) == 0 &&
			testutil.ToFloat64(m.LanePending.WithLabelValues(bf...)) == 0 &&
			testutil.ToFloat64(m.LaneOldestAge.WithLabelValues(bf...)) == 0
	})
}

// A lane another replica creates is bound at once (from the server's
// consumer-created advisory), not only at the next periodic scan.
func TestLaneCreatedElsewhereIsBound(t *testing.T) {
	t.Parallel()
	b := setup(t, opts{cfg: jobs.Config{LaneScan: time.Hour}})
	b.start(t)
	ctx := context.Background()
	l := jobs.Lane{Credential: jobs.Credential{API: jobs.APIKlipy, Account: "default"}, Backfill: true}
	// Let the runner's first scan pass before the lane exists.
	awaitCond(t, 10*time.Second, func() bool {
		info := b.laneInfo(t, jobs.Consumer)
		return info != nil && info.NumWaiting > 0 // the intake is pulling
	})
	if _, err := b.js.CreateOrUpdateConsumer(ctx, jobs.JobsStream, jobs.LaneConsumerConfig(l, b.cons.CachedInfo().Config)); err != nil {
		t.Fatal(err)
	}
	// A job as another replica's intake would have moved it.
	m := &nats.Msg{Subject: l.Subject(), Data: mustJSON(t, upsert("elsewhere", "klipy", contacts("else", 1))), Header: nats.Header{}}
	m.Header.Set("Crmsync-Intake-Subject", "crmsync.jobs.contact.upsert")
	m.Header.Set("Crmsync-Intake-Seq", "999")
	if _, err := b.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if r := b.results(t, 1, 10*time.Second)[0]; r.ID != "elsewhere" || r.Status != jobs.StatusSucceeded {
		t.Errorf("result %+v", r)
	}
}
