package reliability

import (
	"fmt"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// TestGracefulShutdown sends SIGTERM while every slot is busy with a
// KlickTipp session-mode job. Jobs longer than the grace period are
// cancelled and handed back; the worker must exit 0 within the grace period
// (plus the drain), with every session logged out, and a restart must finish
// the rest without losing a contact.
func TestGracefulShutdown(t *testing.T) {
	needWorker(t)
	fig := record(t)
	const (
		njobs, per = 16, 60 // ~1.2 s a job at 20 ms a call: some finish within the grace, some do not
		conc       = 4
		grace      = time.Second
	)
	broker := brokertest.Start(t)
	_, js := connect(t, broker.URL())
	kt := klicktipptest.NewServer()
	t.Cleanup(kt.Close)
	kt.SetFaults(apistest.Faults{Latency: 20 * time.Millisecond}, seed)
	w := newWorker(t, workerEnv(broker.URL(),
		fmt.Sprintf("WORKER_CONCURRENCY=%d", conc), fmt.Sprintf("WORKER_SHUTDOWN_GRACE=%s", grace),
		"KLICKTIPP_BASE_URL="+kt.URL, "KLICKTIPP_USERNAME="+klicktipptest.Username, "KLICKTIPP_PASSWORD="+klicktipptest.Password,
	))
	w.start()
	res := watch(t, js, jobs.ResultsStream)
	for j := 0; j < njobs; j++ {
		id := fmt.Sprintf("term-%d", j)
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, "klicktipp", 500+j, per)), id)
	}
	fig.Jobs, fig.Items = njobs, njobs*per

	// Busy: the first wave is done and the second has logged in, so every
	// slot holds a job that needs longer than the grace period.
	if !res.await(time.Minute, func(m []message) bool { return len(m) >= conc }) {
		t.Fatalf("no result within 1m:\n%s", tail(w.book, 20))
	}
	if !poll(30*time.Second, func() bool { return kt.Logins() >= 2*conc && kt.OpenSessions() == conc }) {
		t.Fatalf("second wave not running: %d logins, %d sessions open", kt.Logins(), kt.OpenSessions())
	}
	openAtTerm := kt.OpenSessions()
	from := w.book.len()
	code, took := w.p.term(t, 30*time.Second)
	fig.Restarts++
	msgs, _ := res.snapshot()
	doneAtTerm := distinctIDs(msgs)
	t.Logf("SIGTERM with %d sessions open: exit %d after %s; %d of %d jobs done", openAtTerm, code, took.Round(time.Millisecond), doneAtTerm, njobs)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0:\n%s", code, tail(w.book, 20))
	}
	// Grace, then each cancelled job's logout (one call) and the drain.
	if limit := grace + 3*time.Second; took > limit {
		t.Errorf("exit took %s, want within the grace period %s (+%s for logouts and the drain)", took, grace, limit-grace)
	}
	if kt.OpenSessions() != 0 || kt.Logins() != kt.Logouts() {
		t.Errorf("after SIGTERM: %d logins, %d logouts, %d sessions open; want every session logged out", kt.Logins(), kt.Logouts(), kt.OpenSessions())
	}
	handedBack := 0
	lines, _ := w.book.snapshot()
	for _, l := range lines[from:] {
		if logMsg("handing job back")(l) && logAttr(l, "reason") == "shutdown" {
			handedBack++
		}
	}
	if handedBack == 0 {
		t.Fatal("no job was handed back at shutdown: the scenario did not happen")
	}
	if took < grace {
		t.Errorf("jobs were handed back after %s, before the grace period %s was over", took, grace)
	}

	w.restart()
	if !res.await(2*time.Minute, func(m []message) bool { return distinctIDs(m) >= njobs }) {
		t.Fatalf("the restarted worker did not finish the rest:\n%s", tail(w.book, 20))
	}
	if code, _ := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("second SIGTERM: exit %d", code)
	}
	msgs, _ = res.snapshot()
	for id, rs := range results(t, msgs) {
		if len(rs) != 1 || rs[0].Status != jobs.StatusSucceeded {
			t.Errorf("job %s: %d results, first %+v", id, len(rs), rs[0].Counts)
		}
	}
	fig.ItemsLost = checkKlickTippRange(t, kt, 500, njobs, per)
	if fig.DeadLetters = streamCount(t, js, jobs.DLQStream); fig.DeadLetters != 0 {
		t.Errorf("%d dead letters", fig.DeadLetters)
	}
	if kt.Logins() != kt.Logouts() || kt.OpenSessions() != 0 {
		t.Errorf("at the end: %d logins, %d logouts, %d open", kt.Logins(), kt.Logouts(), kt.OpenSessions())
	}
	fig.note("SIGTERM with %d sessions open, grace %s: exit 0 after %s, %d jobs handed back, %d logins = %d logouts", openAtTerm, grace, took.Round(time.Millisecond), handedBack, kt.Logins(), kt.Logouts())
}

// checkKlickTippRange is checkKlickTipp for jobs [first, first+n).
func checkKlickTippRange(t *testing.T, kt *klicktipptest.Server, first, n, per int) int {
	t.Helper()
	lost := 0
	for j := first; j < first+n; j++ {
		for i := 0; i < per; i++ {
			s, ok := kt.Subscriber(contactEmail(j, i))
			if !ok || s.Fields["fieldFirstName"] != fmt.Sprintf("First-%d-%d", j, i) {
				if lost < 5 {
					t.Errorf("contact %s: present %v, %+v", contactEmail(j, i), ok, s)
				}
				lost++
			}
		}
	}
	return lost
}
