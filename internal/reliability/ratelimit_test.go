package reliability

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// Test429Storm lets Klipy answer 429 with Retry-After for seconds at a
// time, far longer than all retry attempts together (2 attempts, 10 ms
// backoff): nothing may be dead-lettered, no request may reach the fake
// between a 429 and the reset it announced, and work resumes at the reset.
func Test429Storm(t *testing.T) {
	needWorker(t)
	fig := record(t)
	const (
		conc         = 4
		window       = 3 * time.Second
		limit        = 15
		njobs, per   = 5, 9 // 45 upserts: three or four windows of 15
		inFlightSlop = 250 * time.Millisecond
	)
	broker := brokertest.Start(t)
	_, js := connect(t, broker.URL())
	// Only Retry-After on the 429 (no X-RateLimit-* headers, which would
	// let the worker stop before the 429 and so never see one).
	kl := klipytest.NewServer(klipytest.WithRateLimits(apistest.RateLimit{Limit: limit, Window: window, RetryAfter: true}, apistest.RateLimit{}))
	t.Cleanup(kl.Close)

	w := newWorker(t, workerEnv(broker.URL(),
		fmt.Sprintf("WORKER_CONCURRENCY=%d", conc), "WORKER_MAX_ATTEMPTS=2", "WORKER_RETRY_BASE=10ms", "WORKER_RETRY_MAX=20ms",
		"WORKER_RATE_LIMIT_HOLD=500ms",
		"KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey,
	))
	w.start()
	res := watch(t, js, jobs.ResultsStream)
	for j := 0; j < njobs; j++ {
		id := fmt.Sprintf("storm-%d", j)
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, "klipy", 300+j, per)), id)
	}
	fig.Jobs, fig.Items = njobs, njobs*per
	if !res.await(2*time.Minute, func(m []message) bool { return distinctIDs(m) >= njobs }) {
		t.Fatalf("not every job finished within 2m:\n%s", tail(w.book, 20))
	}
	if code, _ := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	msgs, _ := res.snapshot()
	for id, rs := range results(t, msgs) {
		if rs[0].Status != jobs.StatusSucceeded || rs[0].Counts.Succeeded != per {
			t.Errorf("job %s: %s %+v %s", id, rs[0].Status, rs[0].Counts, rs[0].Error)
		}
	}
	if fig.DeadLetters = streamCount(t, js, jobs.DLQStream); fig.DeadLetters != 0 {
		t.Errorf("%d jobs dead-lettered by a rate limit", fig.DeadLetters)
	}
	if n := len(kl.People()); n != njobs*per {
		t.Errorf("fake has %d people, want %d", n, njobs*per)
		fig.ItemsLost = njobs*per - n
	}

	// Storms from the fake's own record: the first 429 opens one, and it
	// lasts until the reset its Retry-After announced (whole seconds,
	// rounded up, as the fake computes it).
	reqs := kl.Requests()
	storms := 0
	var longest time.Duration
	for i := 0; i < len(reqs); i++ {
		q := reqs[i]
		if q.Status != http.StatusTooManyRequests {
			continue
		}
		storms++
		end := q.Time.Truncate(window).Add(window)
		secs := max(1, (end.Sub(q.Time)+time.Second-1)/time.Second)
		reset := q.Time.Add(secs * time.Second)
		longest = max(longest, reset.Sub(q.Time))
		// Requests already on the wire when the 429 was sent arrive just
		// after it (one per other slot at most) and are refused too;
		// anything else before the reset is a request the worker should
		// not have sent.
		early := 0
		j := i + 1
		for ; j < len(reqs) && reqs[j].Time.Before(reset); j++ {
			r := reqs[j]
			if r.Status == http.StatusTooManyRequests && r.Time.Sub(q.Time) < inFlightSlop {
				early++
				continue
			}
			t.Errorf("request %d arrived %s after a 429 whose Retry-After announced the reset %s later (status %d)",
				j, r.Time.Sub(q.Time).Round(time.Millisecond), reset.Sub(q.Time).Round(time.Millisecond), r.Status)
		}
		if early > conc-1 {
			t.Errorf("%d requests refused right after the 429; at most %d can have been in flight", early, conc-1)
		}
		if j < len(reqs) {
			resumed := reqs[j].Time.Sub(reset)
			t.Logf("storm %d: 429 at +%s, reset announced %s later, %d in-flight refusals, next request %s after the reset",
				storms, q.Time.Sub(reqs[0].Time).Round(time.Millisecond), reset.Sub(q.Time).Round(time.Millisecond), early, resumed.Round(time.Millisecond))
			if resumed > 2500*time.Millisecond {
				t.Errorf("work resumed %s after the announced reset, want within 2.5s", resumed)
			}
		}
		i = j - 1
	}
	if storms == 0 || longest < 2*time.Second {
		t.Fatalf("%d storms, longest %s: the scenario did not happen", storms, longest)
	}
	fig.Faults["429"] = kl.RateLimited()
	fig.note("%d storms of up to %s (Retry-After) against WORKER_MAX_ATTEMPTS=2 × WORKER_RETRY_BASE=10ms; %d requests refused with 429 in all", storms, longest, kl.RateLimited())
}
