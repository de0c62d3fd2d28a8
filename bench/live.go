package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"crmsync/internal/apis/apistest"
)

// liveRun is one side's B5 run: how long each live job waited to start
// and how much longer than its own calls it took to finish.
type liveRun struct {
	start, extra []time.Duration
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// live is B5: live jobs published while a KlickTipp backfill saturates the
// worker (4 slots, 100 ms latency, a 20 requests/s budget): a 10-email
// ClickyID validation and a 5-contact KlickTipp upsert for the backfill's
// own credential, alternating, one a second.
func (b *bench) live(ctx context.Context) error {
	const slots = 4
	lat := 100 * time.Millisecond
	backfill := spec{Prefix: "b5-backfill", API: "klicktipp", Jobs: max(3*slots, b.n(30)), Per: 50}
	nLive := max(4, b.n(20))
	ktLive := spec{Prefix: "b5-live-kt", API: "klicktipp", Jobs: (nLive + 1) / 2, Per: 5}
	ciLive := spec{Prefix: "b5-live-ci", API: "clickyid", Jobs: nLive / 2, Per: 10}
	// Their own calls, one after another at the fake's latency: 5 upserts
	// plus login, tags and logout; one bulk call.
	own := map[string]time.Duration{ktLive.Prefix: 8 * lat, ciLive.Prefix: lat}
	fmt.Printf("B5: %d live jobs during a %d-job x %d-contact KlickTipp backfill (4 slots, 100 ms, 20 requests/s)\n", nLive, backfill.Jobs, backfill.Per)
	rl := apistest.RateLimit{Limit: 20, Window: time.Second, Headers: true, RetryAfter: true}
	res, err := sides(b, []string{"crmsync", "peer"}, func(side string) (liveRun, error) {
		w, err := newWorld(b.dir, b.bins, worldConfig{latency: lat, ktLimit: rl})
		if err != nil {
			return liveRun{}, err
		}
		defer w.Close()
		var p *proc
		upsert, validate, stream, priority := "crmsync.jobs.contact.upsert", "crmsync.jobs.email.validate", "CRMSYNC_RESULTS", "backfill"
		if side == "peer" {
			p, err = w.startPeer(ctx, slots, 0)
			upsert, validate, stream, priority = peerJobs, peerJobs, peerResults, ""
		} else {
			p, err = w.startWorker(slots, map[string]string{"KLICKTIPP_RATE": "20", "KLICKTIPP_BURST": "20"})
		}
		if err != nil {
			return liveRun{}, err
		}
		defer p.stop(10 * time.Second)
		follow, err := followResults(ctx, w.b.js, stream)
		if err != nil {
			return liveRun{}, err
		}
		if _, err := publish(ctx, w.b.js, upsert, priority, backfill, 0, backfill.Jobs); err != nil {
			return liveRun{}, err
		}
		// Let the backfill fill every slot first.
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return liveRun{}, err
		}
		at := map[string]time.Time{}
		for i := 0; i < nLive; i++ {
			s, subject := ktLive, upsert
			if i%2 == 1 {
				s, subject = ciLive, validate
			}
			t, err := publish(ctx, w.b.js, subject, "", s, i/2, i/2+1)
			if err != nil {
				return liveRun{}, err
			}
			for id, ts := range t {
				at[id] = ts
			}
			if err := sleepCtx(ctx, time.Second); err != nil {
				return liveRun{}, err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
		if _, err := follow.until(wctx, func(seen map[string]result) bool {
			for id := range at {
				if _, ok := seen[id]; !ok {
					return false
				}
			}
			return true
		}); err != nil {
			return liveRun{}, err
		}
		var lr liveRun
		for id, pub := range at {
			r := follow.seen[id]
			lr.start = append(lr.start, max(0, r.Started.Sub(pub)))
			ownCalls := own[ktLive.Prefix]
			if len(id) > len(ciLive.Prefix) && id[:len(ciLive.Prefix)] == ciLive.Prefix {
				ownCalls = own[ciLive.Prefix]
			}
			lr.extra = append(lr.extra, max(0, r.Finished.Sub(pub)-ownCalls))
		}
		b.logf("%-8s start delay p50 %s p99 %s; beyond own calls p50 %s p99 %s", side,
			percentile(lr.start, .5).Round(time.Millisecond), percentile(lr.start, .99).Round(time.Millisecond),
			percentile(lr.extra, .5).Round(time.Millisecond), percentile(lr.extra, .99).Round(time.Millisecond))
		return lr, nil
	})
	if err != nil {
		return err
	}
	p50 := func(l liveRun) float64 { return percentile(l.start, .5).Seconds() }
	p99 := func(l liveRun) float64 { return percentile(l.start, .99).Seconds() }
	e99 := func(l liveRun) float64 { return percentile(l.extra, .99).Seconds() }
	c50, c99, ce99 := median(res["crmsync"], p50), median(res["crmsync"], p99), median(res["crmsync"], e99)
	p50p, p99p := median(res["peer"], p50), median(res["peer"], p99)
	b.rows = append(b.rows, row{ID: "B5", Workload: fmt.Sprintf("%d live jobs during a %d x %d KlickTipp backfill, 4 slots, 100 ms, 20/s", nLive, backfill.Jobs, backfill.Per),
		Figure: fmt.Sprintf("start p50 %.2f s, p99 %.2f s (finish p99 %.2f s beyond own calls)", c50, c99, ce99),
		Anchor: fmt.Sprintf("peer (FIFO) start p50 %.1f s, p99 %.1f s", p50p, p99p),
		Ratio:  c99, NoRatio: true, Target: "p99 ≤ 2 s", Met: c99 <= 2, chart: ""})
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
