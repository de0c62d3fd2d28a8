package reliability

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// natsCluster is a JetStream cluster of separate nats-server processes on
// loopback; each node restarts on its own store, client and route ports.
type natsCluster struct {
	nodes []*natsProc
}

// startCluster starts size nodes routed to each other and waits until
// JetStream answers (a meta leader is elected), at most 30 s.
func startCluster(t testing.TB, size int) (*natsCluster, jetstream.JetStream) {
	t.Helper()
	routes := make([]string, size)
	for i := range routes {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	}
	c := &natsCluster{}
	for i := range size {
		others := slices.Delete(slices.Clone(routes), i, i+1)
		c.nodes = append(c.nodes, &natsProc{t: t, port: freePort(t), store: t.TempDir(), book: newLogBook(), args: []string{
			"-n", fmt.Sprintf("node%d", i+1), "--cluster_name", "crmsync", "--cluster", routes[i], "--routes", strings.Join(others, ","),
		}})
	}
	for _, n := range c.nodes {
		n.start()
	}
	_, js := connect(t, c.urls())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		// Without a meta leader the request goes unanswered: ask again
		// each second rather than wait on one request.
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			return c, js
		}
		select {
		case <-ctx.Done():
			t.Fatalf("JetStream cluster not ready within 30s: %v\n%s", err, tail(c.nodes[0].book, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// urls is the NATS_URL of the whole cluster.
func (c *natsCluster) urls() string {
	us := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		us[i] = n.url()
	}
	return strings.Join(us, ",")
}

// clusterStreams are the streams behind the wire contract's streams and the
// worker's KV buckets.
var clusterStreams = []string{jobs.JobsStream, jobs.ResultsStream, jobs.DLQStream, "KV_" + jobs.CheckpointBucket, "KV_" + limiter.Bucket}

// leaders returns the server leading each of clusterStreams (and the
// consumer, as "consumer"); one without a leader is left out. A leaderless
// stream does not answer, hence the short timeout.
func leaders(t *testing.T, js jetstream.JetStream) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	for _, name := range clusterStreams {
		if s, err := js.Stream(ctx, name); err == nil {
			if info, err := s.Info(ctx); err == nil && info.Cluster != nil {
				out[name] = info.Cluster.Leader
			}
		}
	}
	if c, err := js.Consumer(ctx, jobs.JobsStream, jobs.Consumer); err == nil {
		if info, err := c.Info(ctx); err == nil && info.Cluster != nil {
			out["consumer"] = info.Cluster.Leader
		}
	}
	return out
}

// replicated returns nil when each of clusterStreams is configured with
// want replicas, has a leader and every other replica is current, else the
// first problem found.
func replicated(ctx context.Context, js jetstream.JetStream, want int) error {
	for _, name := range clusterStreams {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if info.Config.Replicas != want {
			return fmt.Errorf("stream %s: %d replicas configured, want %d", name, info.Config.Replicas, want)
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s: no leader", name)
		}
		current := 1
		for _, p := range info.Cluster.Replicas {
			if p.Current && !p.Offline {
				current++
			}
		}
		if current != want {
			return fmt.Errorf("stream %s: %d of %d replicas current (leader %s)", name, current, want, info.Cluster.Leader)
		}
	}
	return nil
}

// TestClusterReplicas runs two worker replicas against a 3-node JetStream
// cluster with STREAM_REPLICAS=3, sharing the durable consumer, the
// checkpoints and the rate-limit budget, and SIGKILLs one node mid-run and
// restarts it on its store. Every job must finish exactly once, every
// item reach the fakes, both replicas must take work, the streams and
// buckets must be R3 with every replica current at the end, and the two
// replicas together must keep within Klipy's one budget: the configured
// fleet rate is below the fake's limit but twice it is above, so replicas
// that did not share the limiter would be refused with 429s.
func TestClusterReplicas(t *testing.T) {
	needWorker(t)
	fig := record(t)
	const (
		ktJobs, ktPer = 24, 10 // KlickTipp, session mode
		klJobs, klPer = 16, 12 // Klipy, rate-limited: 192 calls, 16 s at the fleet rate
		ktFirst       = 900    // contactEmail job numbers, distinct per API
		klFirst       = 950
		conc          = 2
		// Klipy's per-key limit scaled from 200/min to 30 per 2 s (15/s);
		// the fleet's budget is 12/s, two unshared replicas would send 24/s.
		klLimit, klWindow = 30, 2 * time.Second
		klRate, klBurst   = 12, 4
		killAfter         = 4 // results before the kill
	)
	cl, js := startCluster(t, 3)

	kt := klicktipptest.NewServer()
	t.Cleanup(kt.Close)
	kt.SetFaults(apistest.Faults{Latency: 10 * time.Millisecond}, seed)
	kl := klipytest.NewServer(klipytest.WithRateLimits(apistest.RateLimit{Limit: klLimit, Window: klWindow, Headers: true, RetryAfter: true}, apistest.RateLimit{}))
	t.Cleanup(kl.Close)

	env := workerEnv(cl.urls(), "STREAM_REPLICAS=3", fmt.Sprintf("WORKER_CONCURRENCY=%d", conc),
		fmt.Sprintf("KLIPY_RATE=%d", klRate), fmt.Sprintf("KLIPY_BURST=%d", klBurst),
		"KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey,
		"KLICKTIPP_BASE_URL="+kt.URL, "KLICKTIPP_USERNAME="+klicktipptest.Username, "KLICKTIPP_PASSWORD="+klicktipptest.Password,
	)
	ws := []*worker{newWorker(t, env), newWorker(t, env)}
	// One after the other: JetStream leaves concurrent creates of the same
	// R3 stream or bucket unanswered, which the worker survives by retrying
	// after a 10 s timeout per step; starting the second replica once the
	// first has created everything keeps the run short.
	for i, w := range ws {
		w.start()
		if _, ok := w.awaitRun("worker started", 45*time.Second); !ok {
			t.Fatalf("worker %d did not start within 45s:\n%s", i+1, tail(w.book, 20))
		}
	}
	if ws[0].http == ws[1].http {
		t.Fatalf("both workers serve HTTP on %s", ws[0].http)
	}

	res := watch(t, js, jobs.ResultsStream)
	// Interleaved, so both APIs are busy through the run.
	var ids []string
	for i := range max(ktJobs, klJobs) {
		if i < ktJobs {
			id := fmt.Sprintf("cluster-klicktipp-%d", ktFirst+i)
			publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, jobs.TargetKlickTipp, ktFirst+i, ktPer)), id)
			ids = append(ids, id)
		}
		if i < klJobs {
			id := fmt.Sprintf("cluster-klipy-%d", klFirst+i)
			publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, jobs.TargetKlipy, klFirst+i, klPer)), id)
			ids = append(ids, id)
		}
	}
	fig.Jobs, fig.Items = ktJobs+klJobs, ktJobs*ktPer+klJobs*klPer
	all := func(m []message) bool { return distinctIDs(m) >= len(ids) }
	dump := func() string {
		var b strings.Builder
		for i, w := range ws {
			fmt.Fprintf(&b, "--- worker %d:\n%s\n", i+1, tail(w.book, 15))
		}
		return b.String()
	}

	if !res.await(time.Minute, func(m []message) bool { return distinctIDs(m) >= killAfter }) {
		t.Fatalf("fewer than %d results within 1m:\n%s", killAfter, dump())
	}
	// The node leading the shared rate-limit bucket: the fleet's budget
	// has to survive its leader's loss.
	lead := leaders(t, js)
	name := lead["KV_"+limiter.Bucket]
	i := slices.IndexFunc(cl.nodes, func(n *natsProc) bool { return slices.Contains(n.args, name) })
	if i < 0 {
		t.Fatalf("no node leads %s: %v", limiter.Bucket, lead)
	}
	victim := cl.nodes[i]
	var led []string
	for what, leader := range lead {
		if leader == name {
			led = append(led, what)
		}
	}
	slices.Sort(led)
	victim.p.kill(t)
	killedAt := time.Now()
	fig.Kills++
	t.Logf("SIGKILLed %s (leader of %v) after %d results", name, led, killAfter)
	// Restart once the other two have taken over: every stream, bucket and
	// the consumer has a leader again, none of them the dead node.
	if !poll(30*time.Second, func() bool {
		now := leaders(t, js)
		return len(now) == len(clusterStreams)+1 && !slices.Contains(slices.Collect(maps.Values(now)), name)
	}) {
		t.Fatalf("the cluster did not recover from losing %s within 30s: leaders %v", name, leaders(t, js))
	}
	msgs, _ := res.snapshot()
	restartAfter := distinctIDs(msgs)
	if restartAfter >= len(ids) {
		t.Fatalf("every job finished before %s was restarted: the scenario did not happen", name)
	}
	victim.start()
	restartedAt := time.Now()
	fig.Restarts++
	if !res.await(time.Minute, all) {
		msgs, _ := res.snapshot()
		t.Fatalf("%d of %d results within 1m of restarting %s:\n%s", distinctIDs(msgs), len(ids), name, dump())
	}
	t.Logf("%s down for %s; all %d results %s after the restart", name, restartedAt.Sub(killedAt).Round(time.Millisecond), len(ids), time.Since(restartedAt).Round(time.Millisecond))

	// The restarted node catches up: every stream and bucket is R3 with
	// all three replicas current again.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for err = replicated(ctx, js, 3); err != nil && ctx.Err() == nil; err = replicated(ctx, js, 3) {
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		t.Errorf("after the restart: %v", err)
	}

	// Each replica stops cleanly: no session left open.
	for i, w := range ws {
		if code, _ := w.p.term(t, 30*time.Second); code != 0 {
			t.Errorf("worker %d: SIGTERM: exit %d", i+1, code)
		}
	}

	msgs, _ = res.snapshot()
	byID := results(t, msgs)
	for _, id := range ids {
		rs := byID[id]
		per := ktPer
		if strings.Contains(id, jobs.TargetKlipy) {
			per = klPer
		}
		switch {
		case len(rs) == 0:
			t.Errorf("job %s has no result", id)
		case len(rs) > 1:
			t.Errorf("job %s has %d results", id, len(rs))
		case rs[0].Status != jobs.StatusSucceeded || rs[0].Counts.Succeeded != per:
			t.Errorf("job %s: status %s, counts %+v, %s", id, rs[0].Status, rs[0].Counts, rs[0].Error)
		}
	}
	fig.ItemsLost = checkKlickTippRange(t, kt, ktFirst, ktJobs, ktPer)
	for j := klFirst; j < klFirst+klJobs; j++ {
		for i := range klPer {
			p, ok := kl.Person(contactEmail(j, i))
			if !ok || p["firstName"] != fmt.Sprintf("First-%d-%d", j, i) || p["lastName"] != fmt.Sprintf("Last-%d", j) {
				if fig.ItemsLost < 5 {
					t.Errorf("person %s: present %v, %v", contactEmail(j, i), ok, p)
				}
				fig.ItemsLost++
			}
		}
	}
	if fig.DeadLetters = streamCount(t, js, jobs.DLQStream); fig.DeadLetters != 0 {
		t.Errorf("dead-letter stream holds %d messages, want 0", fig.DeadLetters)
	}

	// Both replicas took work from the one durable consumer.
	var per []int
	for i, w := range ws {
		done := map[string]bool{}
		lines, _ := w.book.snapshot()
		for _, l := range lines {
			if logMsg("job finished")(l) {
				done[logAttr(l, "job")] = true
			}
		}
		per = append(per, len(done))
		if len(done) == 0 {
			t.Errorf("worker %d finished no job: the consumer was not shared", i+1)
		}
	}

	// One budget for the fleet: no 429 after Klipy's first window, except
	// while a replica could not reach the shared bucket (its leader was
	// being replaced) and limited on its own, as documented, and in the
	// fake's window after that.
	var local [][2]time.Time
	for _, w := range ws {
		local = append(local, localSpans(w.book, "klipy", klWindow)...)
	}
	var first time.Time
	late429, local429 := 0, 0
	for _, q := range kl.Requests() {
		if first.IsZero() {
			first = q.Time.Truncate(klWindow).Add(klWindow)
		}
		if q.Status != http.StatusTooManyRequests || q.Time.Before(first) {
			continue
		}
		if slices.ContainsFunc(local, func(s [2]time.Time) bool { return !q.Time.Before(s[0]) && q.Time.Before(s[1]) }) {
			local429++
			continue
		}
		if late429 < 5 {
			t.Errorf("Klipy answered 429 at +%s, after its first window, while both replicas shared the limiter", q.Time.Sub(first.Add(-klWindow)).Round(time.Millisecond))
		}
		late429++
	}
	if late429 > 0 {
		t.Errorf("%d requests refused with 429 after the first window: the two replicas exceeded one budget", late429)
	}
	// Limiting locally, each replica stops at its first 429 until the reset
	// it announces: at most one per slot of each replica per window.
	if bound := len(ws) * conc * (1 + int(spanTotal(local)/klWindow)); local429 > bound {
		t.Errorf("%d × 429 while limiting locally, more than %d", local429, bound)
	}

	for i, w := range ws {
		if l, ok := w.book.await(0, 0, logMsg("no shared limiter bucket; rate limits are per replica")); ok {
			t.Errorf("worker %d limits on its own: %s", i+1, l)
		}
	}

	// No worker was killed, so every session was logged out.
	if kt.Logins() != kt.Logouts() || kt.OpenSessions() != 0 {
		t.Errorf("KlickTipp: %d logins, %d logouts, %d open; want every session logged out", kt.Logins(), kt.Logouts(), kt.OpenSessions())
	}
	fig.DuplicateCalls = okCalls(kt.Requests(), "POST", "/subscriber") - ktJobs*ktPer + okCalls(kl.Requests(), "PUT", "/people") - klJobs*klPer
	fig.Faults["429"] = kl.RateLimited()
	fig.note("2 workers × WORKER_CONCURRENCY=%d on a 3-node cluster, STREAM_REPLICAS=3; %s (leader of %v) SIGKILLed after %d results, restarted after %d; jobs finished per worker %v; Klipy %d/%s against a fleet budget of %d/s: %d × 429, %d of them while a replica limited locally for %s in all (shared bucket leaderless); %d logins = %d logouts",
		conc, name, led, killAfter, restartAfter, per, klLimit, klWindow, klRate, kl.RateLimited(), local429, spanTotal(local).Round(time.Millisecond), kt.Logins(), kt.Logouts())
}

// okCalls counts the requests to method and path the fake answered 2xx.
func okCalls(reqs []apistest.Request, method, path string) int {
	n := 0
	for _, q := range reqs {
		if q.Method == method && q.Path == path && q.Status/100 == 2 {
			n++
		}
	}
	return n
}

// localSpans returns when a worker limited api on its own because the
// shared bucket was unavailable, from its warning to its "available again"
// (or now), each extended by one window of the API (the
// budget of the window it overspent).
func localSpans(b *logBook, api string, window time.Duration) [][2]time.Time {
	var out [][2]time.Time
	var from time.Time
	lines, _ := b.snapshot()
	for _, l := range lines {
		if logAttr(l, "api") != api {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, logAttr(l, "time"))
		if err != nil {
			continue
		}
		switch {
		case logMsg("limiter: shared limits in NATS KV unavailable; limiting this replica locally until it is back")(l) && from.IsZero():
			from = at
		case logMsg("limiter: shared limits in NATS KV available again")(l) && !from.IsZero():
			out = append(out, [2]time.Time{from, at.Add(window)})
			from = time.Time{}
		}
	}
	if !from.IsZero() {
		out = append(out, [2]time.Time{from, time.Now()})
	}
	return out
}

func spanTotal(spans [][2]time.Time) time.Duration {
	var d time.Duration
	for _, s := range spans {
		d += s[1].Sub(s[0])
	}
	return d
}
