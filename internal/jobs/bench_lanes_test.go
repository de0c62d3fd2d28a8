package jobs_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// BenchmarkLanes is the scenario of the README's "How jobs run" figures:
// 4 slots; KlickTipp fakes at 100 ms latency with a 20 requests/s budget
// per credential; a 30-job × 50-contact KlickTipp backfill of account
// "default" saturating them; from 3 s in, every 2 s, a live 10-email
// ClickyID job (ClickyID at 100 ms, no budget pressure) and a live
// 5-contact KlickTipp job of the same credential as the backfill, 20 of
// each; at 10 s a second account's backfill (5 × 50 contacts, its own
// KlickTipp credential). It reports, for each live kind, the p50 and p99 of
// the extra wait: time from publish to result less the time the same job
// takes alone on an idle worker; and how long after its publish the second
// account's first job started. One run takes 1 to 3 minutes:
//
//	go test -run=^$ -bench=Lanes -benchtime=1x ./internal/jobs
func BenchmarkLanes(b *testing.B) {
	for it := 0; it < b.N; it++ {
		benchLanes(b)
	}
}

func benchLanes(b *testing.B) {
	const latency = 100 * time.Millisecond
	bn := setup(b, opts{cfg: jobs.Config{Concurrency: 4, Hold: 10 * time.Second, AckWait: 30 * time.Second, CheckpointEvery: time.Second}})
	bn.kt.SetFaults(apistest.Faults{Latency: latency}, 1)
	bn.ci.SetFaults(apistest.Faults{Latency: latency}, 1)
	kt2 := klicktipptest.NewServer()
	b.Cleanup(kt2.Close)
	kt2.SetFaults(apistest.Faults{Latency: latency}, 1)

	hc := apis.NewHTTPClient(10 * time.Second)
	b.Cleanup(hc.CloseIdleConnections)
	lim := func(cred string) *limiter.Limiter {
		l, err := limiter.New(limiter.Config{API: "klicktipp", Credential: cred, Rate: 20, Burst: 5, MaxWait: 10 * time.Second, Logger: bn.cfg.Logger})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		return l
	}
	limDefault, limAcme := lim("default"), lim("acme")
	kt := func(url string, l *limiter.Limiter) jobs.Handler {
		c, err := klicktipp.New(klicktipp.Config{BaseURL: url, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc, Limiter: l})
		if err != nil {
			b.Fatal(err)
		}
		return &jobs.KlickTippUpsert{Client: c, CreateTags: true}
	}
	ktDefault, ktAcme := kt(bn.kt.URL, limDefault), kt(kt2.URL, limAcme)
	cic, err := clickyid.New(clickyid.Config{BaseURL: bn.ci.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		b.Fatal(err)
	}
	ci := &jobs.ClickyIDValidate{Client: cic}
	router := jobs.RouterFunc(func(j *jobs.Job) (jobs.Handler, error) {
		switch {
		case j.Kind == jobs.KindEmailValidate:
			return ci, nil
		case j.Account == "acme":
			return ktAcme, nil
		}
		return ktDefault, nil
	})
	bn.cfg.Pace = func(c jobs.Credential) time.Duration {
		switch {
		case c.API != jobs.APIKlickTipp:
			return 0
		case c.Account == "acme":
			return limAcme.Delay()
		}
		return limDefault.Delay()
	}
	bn.startWith(b, router)
	follow := bn.follow(b, jobs.ResultsStream)
	results := map[string]jobs.Result{}
	await := func(ids ...string) {
		for _, id := range ids {
			for {
				if _, ok := results[id]; ok {
					break
				}
				for _, r := range decodeResults(b, follow.next(b, 1, 10*time.Minute)) {
					results[r.ID] = r
				}
			}
		}
	}
	liveKT := func(id string) map[string]any { return upsert(id, "klicktipp", contacts(id+"-", 5)) }

	// Each live kind alone, for the time its own calls need.
	bn.publishP(b, liveKT("alone-kt"), "")
	bn.publishP(b, validate("alone-ci", 10), "")
	await("alone-kt", "alone-ci")
	own := map[string]time.Duration{
		"kt": results["alone-kt"].Finished.Sub(results["alone-kt"].Started),
		"ci": results["alone-ci"].Finished.Sub(results["alone-ci"].Started),
	}

	b.ResetTimer()
	t0 := time.Now()
	for j := 0; j < 30; j++ {
		bn.publishP(b, upsert(fmt.Sprintf("bf-%d", j), "klicktipp", contacts(fmt.Sprintf("bf%d-", j), 50)), jobs.PriorityBackfill)
	}
	published := map[string]time.Time{}
	var acmeAt time.Time
	for i := 0; i < 20; i++ {
		at := t0.Add(3*time.Second + time.Duration(i)*2*time.Second)
		if acmeAt.IsZero() && !at.Before(t0.Add(10*time.Second)) {
			sleepUntil(t0.Add(10 * time.Second))
			acmeAt = time.Now()
			for j := 0; j < 5; j++ {
				job := upsert(fmt.Sprintf("acme-%d", j), "klicktipp", contacts(fmt.Sprintf("acme%d-", j), 50))
				job["account"] = "acme"
				bn.publishP(b, job, jobs.PriorityBackfill)
			}
		}
		sleepUntil(at)
		for _, id := range []string{fmt.Sprintf("live-kt-%d", i), fmt.Sprintf("live-ci-%d", i)} {
			published[id] = time.Now()
			if id[5:7] == "kt" {
				bn.publishP(b, liveKT(id), "")
			} else {
				bn.publishP(b, validate(id, 10), "")
			}
		}
	}
	for id := range published {
		await(id)
	}
	await("acme-0", "acme-1", "acme-2", "acme-3", "acme-4")
	b.StopTimer()
	extra := map[string][]float64{}
	for id, at := range published {
		r := results[id]
		kind := id[5:7]
		extra[kind] = append(extra[kind], (r.Finished.Sub(at) - own[kind]).Seconds())
	}
	firstAcme := time.Duration(1<<63 - 1)
	for j := 0; j < 5; j++ {
		firstAcme = min(firstAcme, results[fmt.Sprintf("acme-%d", j)].Started.Sub(acmeAt))
	}
	for _, kind := range []string{"kt", "ci"} {
		v := extra[kind]
		slices.Sort(v)
		b.ReportMetric(v[len(v)/2], "live-"+kind+"-p50-s")
		b.ReportMetric(v[(len(v)*99+99)/100-1], "live-"+kind+"-p99-s")
		b.Logf("live %s: own calls %s alone; extra wait over %d jobs p50 %.2fs p99 %.2fs", kind, own[kind].Round(time.Millisecond), len(v), v[len(v)/2], v[(len(v)*99+99)/100-1])
	}
	b.ReportMetric(firstAcme.Seconds(), "acme-first-start-s")
	b.Logf("second account's first job started %s after its publish", firstAcme.Round(time.Millisecond))
	bn.stop(b)
}

func decodeResults(t testing.TB, msgs []jetstream.Msg) []jobs.Result {
	t.Helper()
	out := make([]jobs.Result, 0, len(msgs))
	for _, m := range msgs {
		var r jobs.Result
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		<-timer.C
	}
}
