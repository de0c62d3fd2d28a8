package reliability

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/jobs"
)

// brokerRun publishes njobs Klipy jobs, calls restart once results reach
// each of at, and checks that every job finished exactly once, every person
// is at the fake and nothing was dead-lettered.
func brokerRun(t *testing.T, fig *scenario, js jetstream.JetStream, w *worker, kl *klipytest.Server, prefix string, njobs, per int, at []int, restart func()) {
	t.Helper()
	res := watch(t, js, jobs.ResultsStream)
	for j := 0; j < njobs; j++ {
		id := fmt.Sprintf("%s-%d", prefix, j)
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, "klipy", 700+j, per)), id)
	}
	fig.Jobs, fig.Items = njobs, njobs*per
	for _, n := range at {
		if !res.await(2*time.Minute, func(m []message) bool { return distinctIDs(m) >= n }) {
			t.Fatalf("fewer than %d results within 2m:\n%s", n, tail(w.book, 20))
		}
		restart()
		fig.Restarts++
	}
	if !res.await(2*time.Minute, func(m []message) bool { return distinctIDs(m) >= njobs }) {
		msgs, _ := res.snapshot()
		t.Fatalf("%d of %d results within 2m of the restart:\n%s", distinctIDs(msgs), njobs, tail(w.book, 30))
	}
	msgs, _ := res.snapshot()
	for id, rs := range results(t, msgs) {
		if len(rs) != 1 || rs[0].Status != jobs.StatusSucceeded || rs[0].Counts.Succeeded != per {
			t.Errorf("job %s: %d results, first %s %+v", id, len(rs), rs[0].Status, rs[0].Counts)
		}
	}
	for j := 0; j < njobs; j++ {
		for i := 0; i < per; i++ {
			p, ok := kl.Person(contactEmail(700+j, i))
			if !ok || p["firstName"] != fmt.Sprintf("First-%d-%d", 700+j, i) {
				if fig.ItemsLost < 5 {
					t.Errorf("person %s: %v %v", contactEmail(700+j, i), ok, p)
				}
				fig.ItemsLost++
			}
		}
	}
	if fig.DeadLetters = streamCount(t, js, jobs.DLQStream); fig.DeadLetters != 0 {
		t.Errorf("%d dead letters", fig.DeadLetters)
	}
	fig.DuplicateCalls = kl.Count("PUT", "/people") - njobs*per
}

// embeddedToken is the EMBEDDED_NATS_TOKEN of the scenarios that run the
// worker's embedded server: it accepts no client without it.
const embeddedToken = "reliability-embedded-token"

// TestBrokerRestartEmbedded restarts the worker's embedded NATS server
// mid-run: the worker process is SIGKILLed and started again on the same
// EMBEDDED_NATS_STORE and port; the streams, the unfinished jobs and their
// checkpoints survive.
func TestBrokerRestartEmbedded(t *testing.T) {
	needWorker(t)
	fig := record(t)
	kl := klipytest.NewServer()
	t.Cleanup(kl.Close)
	kl.SetFaults(apistest.Faults{Latency: 2 * time.Millisecond}, seed)
	port := freePort(t)
	store := filepath.Join(t.TempDir(), "nats")
	w := newWorker(t, workerEnv("",
		fmt.Sprintf("EMBEDDED_NATS_ADDR=127.0.0.1:%d", port), "EMBEDDED_NATS_STORE="+store,
		"EMBEDDED_NATS_TOKEN="+embeddedToken, "WORKER_CONCURRENCY=4", "KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey,
	))
	w.start()
	_, js := connect(t, fmt.Sprintf("nats://127.0.0.1:%d", port), nats.Token(embeddedToken))
	brokerRun(t, fig, js, w, kl, "emb", 24, 40, []int{5, 14}, func() {
		w.p.kill(t)
		fig.Kills++
		w.restart()
	})
	if code, _ := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	fig.note("worker with embedded NATS SIGKILLed and restarted on the same store twice; %d people upserted again", fig.DuplicateCalls)
}

// TestBrokerRestartExternal kills a separate nats-server process mid-run
// and starts it again on the same store and port; the worker reconnects by
// itself.
func TestBrokerRestartExternal(t *testing.T) {
	needWorker(t)
	fig := record(t)
	n := startNATS(t, "", "")
	kl := klipytest.NewServer()
	t.Cleanup(kl.Close)
	kl.SetFaults(apistest.Faults{Latency: 2 * time.Millisecond}, seed)
	w := newWorker(t, workerEnv(n.url(), "WORKER_CONCURRENCY=4", "KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey))
	w.start()
	_, js := connect(t, n.url())
	brokerRun(t, fig, js, w, kl, "ext", 24, 40, []int{5, 14}, func() {
		from := w.book.len()
		n.p.kill(t)
		fig.Kills++
		if _, ok := w.book.await(from, 30*time.Second, logMsg("nats disconnected")); !ok {
			t.Fatalf("worker did not notice the broker went away:\n%s", tail(w.book, 10))
		}
		n.start()
		if _, ok := w.book.await(from, 60*time.Second, logMsg("nats reconnected")); !ok {
			t.Fatalf("worker did not reconnect within 60s:\n%s", tail(w.book, 10))
		}
	})
	if !w.p.running() {
		t.Fatal("the worker exited")
	}
	if code, _ := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
	fig.note("nats-server SIGKILLed and restarted on the same store and port twice; the worker reconnected by itself; %d people upserted again", fig.DuplicateCalls)
}
