package reliability

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// contactJob is a KlickTipp contact.upsert of n contacts whose emails and
// field values are unique to job j.
func contactJob(id, target string, j, n int) map[string]any {
	cs := make([]map[string]any, n)
	for i := range cs {
		c := map[string]any{"email": contactEmail(j, i)}
		if target == jobs.TargetKlickTipp {
			c["fields"] = map[string]string{"fieldFirstName": fmt.Sprintf("First-%d-%d", j, i), "fieldLastName": fmt.Sprintf("Last-%d", j)}
			c["tags"] = []any{klicktipptest.TagNewsletter}
			c["listid"] = klicktipptest.ListID
		} else {
			c["firstName"], c["lastName"] = fmt.Sprintf("First-%d-%d", j, i), fmt.Sprintf("Last-%d", j)
		}
		cs[i] = c
	}
	return map[string]any{"id": id, "kind": "contact.upsert", "target": target, "contacts": cs}
}

func contactEmail(j, i int) string { return fmt.Sprintf("c%d-%d@example.com", j, i) }

// checkKlickTipp reports how many of the contacts of jobs [0,njobs) are
// missing from the fake or lack their final values.
func checkKlickTipp(t *testing.T, kt *klicktipptest.Server, njobs, per int) int {
	t.Helper()
	lost := 0
	for j := 0; j < njobs; j++ {
		for i := 0; i < per; i++ {
			s, ok := kt.Subscriber(contactEmail(j, i))
			if !ok || s.Fields["fieldFirstName"] != fmt.Sprintf("First-%d-%d", j, i) || s.Fields["fieldLastName"] != fmt.Sprintf("Last-%d", j) ||
				s.ListID != klicktipptest.ListID || !slices.Contains(s.Tags, klicktipptest.TagNewsletter) {
				if lost < 5 {
					t.Errorf("contact %s: present %v, %+v", contactEmail(j, i), ok, s)
				}
				lost++
			}
		}
	}
	return lost
}

// TestCrash SIGKILLs the worker five times at random moments of a
// 20,000-contact backfill and restarts it each time.
//
// The bound on repeated API calls: a job's progress is checkpointed every
// 250 ms (CheckpointEvery), so after a kill at time T a redelivered job
// redoes only the items it recorded after its last stored checkpoint, taken
// at most 250 ms (plus the KV write) before T, and the calls that were in
// flight at T. All of these calls reached the fake in (T-w, T] with w =
// 250 ms plus slack for the KV write under load and the race detector (we
// use 1 s); a run with no checkpoints would redo calls from the start of
// each in-flight job, seconds earlier. So
//
//	repeated ≤ Σ_kills calls(T_k-1s, T_k] + kills × concurrency      (observed)
//	        ≤ kills × (rate × 1 s + burst + concurrency)            (configured)
//
// since the token bucket lets at most burst + rate×w calls through in any
// window w (a restarted worker starts with a full bucket, hence one burst
// per kill).
func TestCrash(t *testing.T) {
	needWorker(t)
	fig := record(t)
	r := rng(t)
	const (
		njobs, per = 40, 500 // 20,000 contacts; each job runs ~5 s, longer than the checkpoint window
		conc       = 8
		rate       = 800
		burst      = 10
		kills      = 5
		window     = time.Second
	)
	broker := brokertest.Start(t)
	_, js := connect(t, broker.URL())
	kt := klicktipptest.NewServer()
	t.Cleanup(kt.Close)
	kt.SetFaults(apistest.Faults{Latency: time.Millisecond}, seed)

	w := newWorker(t, workerEnv(broker.URL(),
		fmt.Sprintf("WORKER_CONCURRENCY=%d", conc),
		fmt.Sprintf("KLICKTIPP_RATE=%d", rate), fmt.Sprintf("KLICKTIPP_BURST=%d", burst),
		"KLICKTIPP_BASE_URL="+kt.URL, "KLICKTIPP_USERNAME="+klicktipptest.Username, "KLICKTIPP_PASSWORD="+klicktipptest.Password,
	))
	w.start()
	res := watch(t, js, jobs.ResultsStream)
	for j := 0; j < njobs; j++ {
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(fmt.Sprintf("crash-%d", j), "klicktipp", j, per)), fmt.Sprintf("crash-%d", j))
	}
	fig.Jobs, fig.Items = njobs, njobs*per

	// Kill after a random number of results each time: distinct, increasing
	// points spread over the run.
	var points []int
	for len(points) < kills {
		n := 2 + r.IntN(njobs-8)
		if !slices.Contains(points, n) {
			points = append(points, n)
		}
	}
	slices.Sort(points)
	var killedAt []time.Time
	for k, n := range points {
		if !res.await(3*time.Minute, func(m []message) bool { return distinctIDs(m) >= n }) {
			t.Fatalf("kill %d: fewer than %d results within 3m", k+1, n)
		}
		w.p.kill(t)
		killedAt = append(killedAt, time.Now())
		fig.Kills++
		t.Logf("kill %d after %d results; %d subscribe calls so far", k+1, n, kt.Count("POST", "/subscriber"))
		w.restart()
		fig.Restarts++
	}
	if !res.await(3*time.Minute, func(m []message) bool { return distinctIDs(m) >= njobs }) {
		msgs, _ := res.snapshot()
		t.Fatalf("%d of %d results within 3m of the last restart:\n%s", distinctIDs(msgs), njobs, tail(w.book, 20))
	}
	if code, took := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("final SIGTERM: exit %d after %s", code, took)
	}

	msgs, _ := res.snapshot()
	byID := results(t, msgs)
	for j := 0; j < njobs; j++ {
		rs := byID[fmt.Sprintf("crash-%d", j)]
		switch {
		case len(rs) == 0:
			t.Errorf("job crash-%d has no result", j)
		case len(rs) > 1:
			t.Errorf("job crash-%d has %d results (the result's Nats-Msg-Id should dedupe redeliveries)", j, len(rs))
		case rs[0].Status != jobs.StatusSucceeded || rs[0].Counts.Succeeded != per:
			t.Errorf("job crash-%d: status %s, counts %+v", j, rs[0].Status, rs[0].Counts)
		}
	}
	fig.ItemsLost = checkKlickTipp(t, kt, njobs, per)
	if n := len(kt.Subscribers()); n != njobs*per {
		t.Errorf("fake has %d subscribers, want %d", n, njobs*per)
	}
	fig.DeadLetters = streamCount(t, js, jobs.DLQStream)
	if fig.DeadLetters != 0 {
		t.Errorf("dead-letter stream holds %d messages, want 0", fig.DeadLetters)
	}

	// Repeated calls against the bound.
	reqs := kt.Requests()
	subscribes, inWindows := 0, 0
	for _, q := range reqs {
		if q.Method != "POST" || q.Path != "/subscriber" {
			continue
		}
		subscribes++
		for _, at := range killedAt {
			if q.Time.After(at.Add(-window)) && !q.Time.After(at) {
				inWindows++
				break
			}
		}
	}
	fig.DuplicateCalls = subscribes - njobs*per
	observed := inWindows + kills*conc
	configured := kills * (int(rate*window.Seconds()) + burst + conc)
	fig.DuplicateBound = min(observed, configured)
	t.Logf("subscribe calls %d for %d contacts: %d repeated; bound %d observed (calls in the %s before each kill + in flight), %d configured",
		subscribes, njobs*per, fig.DuplicateCalls, observed, window, configured)
	if fig.DuplicateCalls < 0 || fig.DuplicateCalls > observed || fig.DuplicateCalls > configured {
		t.Errorf("%d repeated subscribe calls, more than in flight: bound %d (observed), %d (configured)", fig.DuplicateCalls, observed, configured)
	}
	// SIGKILLed workers cannot log out: at most one open session per slot per kill.
	logins, logouts := kt.Logins(), kt.Logouts()
	if d := logins - logouts; d < 0 || d > kills*conc {
		t.Errorf("logins %d - logouts %d = %d, want within [0, kills×concurrency = %d]", logins, logouts, d, kills*conc)
	}
	fig.note("kills after %v results; %d logins, %d logouts (sessions orphaned by SIGKILL: %d)", points, logins, logouts, logins-logouts)
	fig.addFaults(kt.FaultsInjected())
}
