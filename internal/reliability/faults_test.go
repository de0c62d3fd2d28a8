package reliability

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

// sessionAudit checks the KlickTipp session life cycle from the fake's
// recorded requests: every session id the worker used was logged out by a
// request the fake answered, or was expired by the server (a later request
// with it was denied). A logout that failed in transit (reset, hang, 5xx)
// must be followed by another logout of the same session. It returns the
// number of logouts answered 200 by an injected malformed body instead of the
// fake's handler, which leave a session open through no fault of the worker
// (a client cannot tell such a 200 from a real one).
func sessionAudit(t *testing.T, kt *klicktipptest.Server) (malformedLogouts int) {
	t.Helper()
	type life struct {
		loggedOut, denied, failedLogout bool
	}
	sessions := map[string]*life{}
	okLogouts := 0
	for _, q := range kt.Requests() {
		id := q.Header.Get("X-Session-Id")
		if id == "" {
			if c, err := (&http.Request{Header: q.Header}).Cookie(klicktipptest.SessionName); err == nil {
				id = c.Value
			}
		}
		if id == "" {
			continue
		}
		l := sessions[id]
		if l == nil {
			l = &life{}
			sessions[id] = l
		}
		switch {
		case q.Status == http.StatusUnauthorized || q.Status == http.StatusForbidden,
			// A logout of a session the server already expired: KlickTipp
			// answers 406 ["Benutzer nicht eingeloggt."], and it is closed.
			q.Path == "/account/logout" && q.Status == http.StatusNotAcceptable:
			l.denied = true
		case q.Path == "/account/logout" && q.Status == http.StatusOK:
			l.loggedOut, l.failedLogout = true, false
			okLogouts++
		case q.Path == "/account/logout":
			l.failedLogout = true
		}
	}
	bad := 0
	for id, l := range sessions {
		if !l.loggedOut && !l.denied {
			if bad < 5 {
				t.Errorf("session %s…: never logged out (a logout failed in transit and was not retried: %v)", id[:8], l.failedLogout)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d sessions left open by the worker", bad, len(sessions))
	}
	return okLogouts - kt.Logouts()
}

// TestAPIFaults runs KlickTipp (session mode), Klipy and ClickyID jobs
// against fakes that answer 20 % of requests with 5xx, hang 5 % past
// HTTP_TIMEOUT, reset connections, send malformed bodies, and expire every
// KlickTipp session every 700 ms.
func TestAPIFaults(t *testing.T) {
	needWorker(t)
	fig := record(t)
	broker := brokertest.Start(t)
	_, js := connect(t, broker.URL())
	faults := apistest.Faults{Latency: time.Millisecond, FailRate: 0.20, HangRate: 0.05, ResetRate: 0.03, MalformedRate: 0.03}
	kt := klicktipptest.NewServer()
	kl := klipytest.NewServer()
	// No hourly budget: the limiter would pace bulk calls to the announced
	// X-RateLimit-Remaining over the hour (one every few seconds).
	ci := clickyidtest.NewServer(clickyidtest.WithRateLimit(apistest.RateLimit{}))
	t.Cleanup(func() { kt.Close(); kl.Close(); ci.Close() })
	kt.SetFaults(faults, seed)
	kl.SetFaults(faults, seed+1)
	ci.SetFaults(faults, seed+2)

	w := newWorker(t, workerEnv(broker.URL(),
		"HTTP_TIMEOUT=500ms", "WORKER_CONCURRENCY=8",
		"KLICKTIPP_BASE_URL="+kt.URL, "KLICKTIPP_USERNAME="+klicktipptest.Username, "KLICKTIPP_PASSWORD="+klicktipptest.Password,
		"KLIPY_BASE_URL="+kl.URL, "KLIPY_API_KEY="+klipytest.DefaultAPIKey,
		"CLICKYID_BASE_URL="+ci.URL, "CLICKYID_API_KEY="+clickyidtest.DefaultAPIKey,
	))
	w.start()
	res := watch(t, js, jobs.ResultsStream)
	dlq := watch(t, js, jobs.DLQStream)

	const ktJobs, klJobs, ciJobs, per, emails = 12, 8, 4, 25, 150
	var ids []string
	for j := 0; j < ktJobs; j++ {
		id := fmt.Sprintf("kt-%d", j)
		ids = append(ids, id)
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, "klicktipp", j, per)), id)
	}
	for j := 0; j < klJobs; j++ {
		id := fmt.Sprintf("kl-%d", j)
		ids = append(ids, id)
		publish(t, js, jobs.KindContactUpsert.Subject(), mustJSON(t, contactJob(id, "klipy", 100+j, per)), id)
	}
	for j := 0; j < ciJobs; j++ {
		id := fmt.Sprintf("ci-%d", j)
		ids = append(ids, id)
		es := make([]string, emails)
		for i := range es {
			dom := "example.com"
			if i%3 == 0 {
				dom = "uni.example"
			}
			es[i] = fmt.Sprintf("v%d-%d@%s", j, i, dom)
		}
		publish(t, js, jobs.KindEmailValidate.Subject(), mustJSON(t, map[string]any{
			"id": id, "kind": "email.validate", "emails": es, "targetGroupIds": []string{clickyidtest.TargetGroupUni},
		}), id)
	}
	fig.Jobs, fig.Items = len(ids), (ktJobs+klJobs)*per+ciJobs*emails

	// Sessions expire server-side while jobs run.
	stopExpiry := make(chan struct{})
	expiryDone := make(chan struct{})
	go func() {
		defer close(expiryDone)
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopExpiry:
				return
			case <-tick.C:
				kt.ExpireSessions()
			}
		}
	}()
	ok := res.await(3*time.Minute, func(m []message) bool { return distinctIDs(m) >= len(ids) })
	close(stopExpiry)
	select {
	case <-expiryDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the session-expiry goroutine did not stop within 10s")
	}
	if !ok {
		msgs, _ := res.snapshot()
		t.Fatalf("%d of %d jobs finished within 3m:\n%s", distinctIDs(msgs), len(ids), tail(w.book, 20))
	}
	if code, took := w.p.term(t, 30*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d after %s", code, took)
	}

	msgs, _ := res.snapshot()
	byID := results(t, msgs)
	dead, _ := dlq.snapshot()
	deadReason := map[string]string{}
	for _, m := range dead {
		deadReason[m.Header.Get(jobs.HeaderJobID)] = m.Header.Get(jobs.HeaderError)
	}
	fig.DeadLetters = len(dead)
	for _, id := range ids {
		rs := byID[id]
		if len(rs) != 1 {
			t.Errorf("job %s: %d results, want 1", id, len(rs))
			continue
		}
		r := rs[0]
		if r.DeadLettered {
			if deadReason[id] == "" || r.Error == "" {
				t.Errorf("job %s dead-lettered without a reason (header %q, result %q)", id, deadReason[id], r.Error)
			}
			fig.note("%s dead-lettered: %s", id, r.Error)
			continue
		}
		for i, it := range r.Items {
			if !it.OK {
				t.Errorf("job %s item %d failed although only transient faults were injected: %s", id, i, it.Error)
				fig.ItemsLost++
				continue
			}
			switch {
			case strings.HasPrefix(id, "kt-"):
				if s, ok := kt.Subscriber(it.Email); !ok || it.SubscriberID != fmt.Sprint(s.ID) {
					t.Errorf("job %s item %d (%s): result says subscriber %s, fake has %+v", id, i, it.Email, it.SubscriberID, s)
					fig.ItemsLost++
				}
			case strings.HasPrefix(id, "kl-"):
				if p, ok := kl.Person(it.Email); !ok || p["firstName"] == nil {
					t.Errorf("job %s item %d (%s): not at the fake: %v", id, i, it.Email, p)
					fig.ItemsLost++
				}
			default:
				want := strings.HasSuffix(it.Email, "@uni.example")
				if it.IsValid == nil || *it.IsValid != want {
					t.Errorf("job %s item %d (%s): isValid %v, want %v", id, i, it.Email, it.IsValid, want)
				}
			}
		}
	}
	for id := range deadReason {
		if len(byID[id]) == 0 {
			t.Errorf("dead letter for %s has no result", id)
		}
	}

	malformed := sessionAudit(t, kt)
	logins, logouts, open, expired := kt.Logins(), kt.Logouts(), kt.OpenSessions(), kt.Snapshot().Expired
	t.Logf("sessions: %d logins, %d logouts, %d expired by the server, %d open, %d logouts answered by an injected malformed body",
		logins, logouts, expired, open, malformed)
	// A session whose logout got a malformed 200 stays open until the
	// periodic expiry takes it: open ≤ malformed.
	if logins != logouts+expired+open || open > malformed {
		t.Errorf("logins %d ≠ logouts %d + expired %d, or %d sessions open (only %d logouts were lost to malformed answers)", logins, logouts, expired, open, malformed)
	}
	fig.note("%d logins = %d logouts + %d expired by the fake + %d whose logout got an injected malformed 200", logins, logouts, expired, open)
	fig.addFaults(kt.FaultsInjected())
	fig.addFaults(kl.FaultsInjected())
	fig.addFaults(ci.FaultsInjected())
	fig.Faults["session_expiry"] = expired
}
