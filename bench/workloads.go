package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"crmsync/internal/apis/apistest"
)

// bench holds what every workload needs: the built programs, the scale,
// the repetitions, and the rows of the table being built.
type bench struct {
	dir      string
	profiles string // -profile
	bins     *binaries
	scale    float64 // 1 for a full run, 0.1 for -quick
	reps     int
	rows     []row
	notes    []string
}

func (b *bench) n(full int) int { return max(1, int(float64(full)*b.scale)) }

func (b *bench) logf(format string, a ...any) {
	fmt.Printf("  "+format+"\n", a...)
}

// sides runs each named side once per repetition, rotating the order so
// that no side always runs first, and returns each side's results.
func sides[T any](b *bench, names []string, run func(name string) (T, error)) (map[string][]T, error) {
	return sidesN(b, b.reps, names, run)
}

// shortReps is the repetitions a full run takes of a measurement whose
// runs last about a second (B4 ClickyID): on this shared machine one such
// run varies by ±15%, as much as the margins, so the median takes more.
const shortReps = 7

// shortRuns is how many repetitions a sub-second measurement takes:
// shortReps in a full run (or -reps, if more), -reps with -quick.
func (b *bench) shortRuns() int {
	if b.scale != 1 {
		return b.reps
	}
	return max(b.reps, shortReps)
}

// sidesN is sides with n repetitions.
func sidesN[T any](b *bench, n int, names []string, run func(name string) (T, error)) (map[string][]T, error) {
	out := map[string][]T{}
	for r := 0; r < n; r++ {
		for i := range names {
			name := names[(i+r)%len(names)]
			v, err := run(name)
			if err != nil {
				return nil, fmt.Errorf("%s, repetition %d: %w", name, r+1, err)
			}
			out[name] = append(out[name], v)
		}
	}
	return out, nil
}

func median[T any](vs []T, key func(T) float64) float64 {
	xs := make([]float64, len(vs))
	for i, v := range vs {
		xs[i] = key(v)
	}
	slices.Sort(xs)
	if len(xs) == 0 {
		return 0
	}
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// throughputRun runs spec s on one side in a fresh world.
func (b *bench) throughputRun(ctx context.Context, side string, s spec, slots int, wc worldConfig) (throughput, error) {
	w, err := newWorld(b.dir, b.bins, wc)
	if err != nil {
		return throughput{}, err
	}
	defer w.Close()
	switch side {
	case "bare":
		el, cpu, err := w.runBare(s, slots)
		if err != nil {
			return throughput{}, err
		}
		return throughput{elapsed: el, cpu: cpu, calls: len(w.requests()), items: s.items()}, nil
	case "peer":
		p, err := w.startPeer(ctx, slots, 0)
		if err != nil {
			return throughput{}, err
		}
		defer p.stop(10 * time.Second)
		return w.runQueued(ctx, p, peerJobs, peerResults, s)
	default:
		p, err := w.startWorker(slots, nil)
		if err != nil {
			return throughput{}, err
		}
		defer p.stop(10 * time.Second)
		subject := "crmsync.jobs.contact.upsert"
		if s.API == "clickyid" {
			subject = "crmsync.jobs.email.validate"
		}
		return w.runQueued(ctx, p, subject, "CRMSYNC_RESULTS", s)
	}
}

// upserts is B1 (crmsync against the bare loop) and the KlickTipp half of B4
// (crmsync against the peer), measured in one interleaved set of runs.
func (b *bench) upserts(ctx context.Context) error {
	s := spec{Prefix: "b1", API: "klicktipp", Jobs: b.n(500), Per: 200}
	fmt.Printf("B1/B4: %d KlickTipp upserts (%d jobs x %d), zero latency, no rate limit, 16 slots\n", s.items(), s.Jobs, s.Per)
	res, err := sides(b, []string{"crmsync", "peer", "bare"}, func(side string) (throughput, error) {
		t, err := b.throughputRun(ctx, side, s, 16, worldConfig{})
		if err == nil {
			b.logf("%-8s %8.0f items/s  %6.3f ms CPU/call  (%d calls, %d failed items)", side, t.itemsPerSec(), ms(t.cpuPerCall()), t.calls, t.failed)
		}
		return t, err
	})
	if err != nil {
		return err
	}
	ips := func(t throughput) float64 { return t.itemsPerSec() }
	cpc := func(t throughput) float64 { return ms(t.cpuPerCall()) }
	c, p, bl := median(res["crmsync"], ips), median(res["peer"], ips), median(res["bare"], ips)
	b.rows = append(b.rows,
		row{ID: "B1", Workload: fmt.Sprintf("%s KlickTipp upserts, 0 ms, unlimited, 16 slots", thousands(s.items())),
			Figure: fmt.Sprintf("%s items/s", thousands(int(c))), Anchor: fmt.Sprintf("bare loop %s items/s", thousands(int(bl))),
			Ratio: c / bl, Target: "≥ 0.85", Met: c/bl >= 0.85, chart: "B1 crmsync / bare loop"},
		row{ID: "B4", Workload: "B1 through the Watermill peer",
			Figure: fmt.Sprintf("%s items/s, %.3f ms CPU/call", thousands(int(c)), median(res["crmsync"], cpc)),
			Anchor: fmt.Sprintf("peer %s items/s, %.3f ms CPU/call", thousands(int(p)), median(res["peer"], cpc)),
			Ratio:  c / p, Target: "> 1 on both", Met: c > p && median(res["crmsync"], cpc) < median(res["peer"], cpc), chart: "B4 KlickTipp crmsync / peer"},
	)
	return nil
}

// latencyUpserts is B2: the same upserts at 50 ms latency with 32 slots,
// against the ceiling the call pattern allows.
func (b *bench) latencyUpserts(ctx context.Context) error {
	s := spec{Prefix: "b2", API: "klicktipp", Jobs: b.n(640), Per: 50}
	lat := 50 * time.Millisecond
	ceiling := 32 / lat.Seconds() * float64(s.Per) / float64(s.Per+3)
	fmt.Printf("B2: %d KlickTipp upserts (%d jobs x %d), 50 ms latency, 32 slots\n", s.items(), s.Jobs, s.Per)
	res, err := sides(b, []string{"crmsync"}, func(side string) (throughput, error) {
		t, err := b.throughputRun(ctx, side, s, 32, worldConfig{latency: lat})
		if err == nil {
			b.logf("%-8s %8.0f items/s", side, t.itemsPerSec())
		}
		return t, err
	})
	if err != nil {
		return err
	}
	c := median(res["crmsync"], func(t throughput) float64 { return t.itemsPerSec() })
	b.rows = append(b.rows, row{ID: "B2", Workload: fmt.Sprintf("%s KlickTipp upserts, 50 ms, 32 slots", thousands(s.items())),
		Figure: fmt.Sprintf("%s items/s", thousands(int(c))), Anchor: fmt.Sprintf("32 slots ÷ 50 ms × 50/53 = %s items/s", thousands(int(ceiling))),
		Ratio: c / ceiling, Target: "≥ 0.95", Met: c/ceiling >= 0.95, chart: "B2 crmsync / ceiling"})
	return nil
}

// validations is the ClickyID half of B4: bulk validation, unlimited, zero
// latency, 8 slots.
func (b *bench) validations(ctx context.Context) error {
	s := spec{Prefix: "b4", API: "clickyid", Jobs: b.n(100), Per: 1000}
	fmt.Printf("B4: %d ClickyID validations (%d jobs x %d), zero latency, unlimited, 8 slots\n", s.items(), s.Jobs, s.Per)
	res, err := sidesN(b, b.shortRuns(), []string{"crmsync", "peer", "bare"}, func(side string) (throughput, error) {
		t, err := b.throughputRun(ctx, side, s, 8, worldConfig{})
		if err == nil {
			b.logf("%-8s %8.0f emails/s  %6.3f ms CPU/call  (%d calls)", side, t.itemsPerSec(), ms(t.cpuPerCall()), t.calls)
		}
		return t, err
	})
	if err != nil {
		return err
	}
	ips := func(t throughput) float64 { return t.itemsPerSec() }
	cpc := func(t throughput) float64 { return ms(t.cpuPerCall()) }
	c, p, bl := median(res["crmsync"], ips), median(res["peer"], ips), median(res["bare"], ips)
	b.rows = append(b.rows, row{ID: "B4", Workload: fmt.Sprintf("%s ClickyID emails, 0 ms, unlimited, 8 slots", thousands(s.items())),
		Figure: fmt.Sprintf("%s emails/s (%.2f of bare), %.3f ms CPU/call", thousands(int(c)), c/bl, median(res["crmsync"], cpc)),
		Anchor: fmt.Sprintf("peer %s emails/s (%.2f of bare), %.3f ms CPU/call", thousands(int(p)), p/bl, median(res["peer"], cpc)),
		Ratio:  c / p, Target: "> 1 on both", Met: c > p && median(res["crmsync"], cpc) < median(res["peer"], cpc), chart: "B4 ClickyID crmsync / peer"})
	return nil
}

// windowStats reads a fake's bulk requests: how many went through in each
// fixed window, the 429s, and the requests sent into a window after it had
// already answered 429 (sent while blocked).
type windowStats struct {
	ok, tooMany, blocked int
	utilisation          float64
	windows              int
	first429             []time.Duration // when each 429 came, from the first request
}

func bulkWindows(reqs []apistest.Request, limit int, window time.Duration) windowStats {
	var st windowStats
	type win struct{ ok, tooMany int }
	wins := map[int64]*win{}
	var firstT time.Time
	var firstW, lastW int64 = -1, -1
	for _, q := range reqs {
		if q.Path != "/validate/bulk" {
			continue
		}
		if firstT.IsZero() {
			firstT = q.Time
		}
		k := q.Time.UnixNano() / int64(window)
		if firstW < 0 {
			firstW = k
		}
		lastW = k
		w := wins[k]
		if w == nil {
			w = &win{}
			wins[k] = w
		}
		switch q.Status {
		case http.StatusOK:
			w.ok++
			st.ok++
		case http.StatusTooManyRequests:
			if w.tooMany > 0 {
				st.blocked++
			}
			w.tooMany++
			st.tooMany++
			st.first429 = append(st.first429, q.Time.Sub(firstT).Round(10*time.Millisecond))
		}
	}
	// Every window from the first to the one before the last was one the
	// backlog could fill; the last ran out of work.
	used := 0
	for k := firstW; k < lastW; k++ {
		st.windows++
		if w := wins[k]; w != nil {
			used += w.ok
		}
	}
	if st.windows > 0 {
		st.utilisation = float64(used) / float64(st.windows*limit)
	}
	return st
}

// rateLimited is B3: a backlog of ClickyID bulk calls against a fake that
// allows 20 per 2 s window, crmsync (its limiter set to the same budget)
// against the peer (Throttle at the same rate, go-retryablehttp honouring
// Retry-After).
func (b *bench) rateLimited(ctx context.Context) error {
	const limit, window = 20, 2 * time.Second
	s := spec{Prefix: "b3", API: "clickyid", Jobs: b.n(600), Per: 100}
	fmt.Printf("B3: %d ClickyID bulk calls (%.0f s of backlog) against %d calls per %s\n", s.calls(), float64(s.calls())/(limit/window.Seconds()), limit, window)
	rl := apistest.RateLimit{Limit: limit, Window: window, Headers: true, RetryAfter: true}
	res, err := sides(b, []string{"crmsync", "peer"}, func(side string) (windowStats, error) {
		w, err := newWorld(b.dir, b.bins, worldConfig{ciLimit: rl})
		if err != nil {
			return windowStats{}, err
		}
		defer w.Close()
		var p *proc
		subject, stream := "crmsync.jobs.email.validate", "CRMSYNC_RESULTS"
		if side == "peer" {
			p, err = w.startPeer(ctx, 8, int(limit/window.Seconds()))
			subject, stream = peerJobs, peerResults
		} else {
			// The fleet budget is the fake's: 20 per 2 s, as the hourly
			// budget and as the bulk class's minute budget alike.
			p, err = w.startWorker(8, map[string]string{
				"CLICKYID_RATE": fmt.Sprint(limit / window.Seconds()), "CLICKYID_BURST": fmt.Sprint(limit),
				"CLICKYID_BULK_PER_MINUTE": fmt.Sprint(limit * 60 / window.Seconds()), "CLICKYID_BULK_BURST": fmt.Sprint(limit)})
		}
		if err != nil {
			return windowStats{}, err
		}
		defer p.stop(10 * time.Second)
		if _, err := w.runQueued(ctx, p, subject, stream, s); err != nil {
			return windowStats{}, err
		}
		st := bulkWindows(w.ci.Requests(), limit, window)
		b.logf("%-8s utilisation %.3f over %d windows, %d 429s, %d sent while blocked", side, st.utilisation, st.windows, st.tooMany, st.blocked)
		return st, nil
	})
	if err != nil {
		return err
	}
	u := func(s windowStats) float64 { return s.utilisation }
	tm := func(s windowStats) float64 { return float64(s.tooMany) }
	bl := func(s windowStats) float64 { return float64(s.blocked) }
	cu, pu := median(res["crmsync"], u), median(res["peer"], u)
	c429, p429 := median(res["crmsync"], tm), median(res["peer"], tm)
	cbl, pbl := median(res["crmsync"], bl), median(res["peer"], bl)
	b.rows = append(b.rows, row{ID: "B3", Workload: fmt.Sprintf("%s ClickyID bulk calls, 20 per 2 s window, 8 slots", thousands(s.calls())),
		Figure: fmt.Sprintf("utilisation %.3f, %.0f 429s, %.0f sent while blocked", cu, c429, cbl),
		Anchor: fmt.Sprintf("peer %.3f, %.0f 429s, %.0f sent while blocked", pu, p429, pbl),
		Ratio:  cu, Target: "≥ 0.97, 0 blocked, ≤ 1 429, ahead of the peer",
		Met: cu >= 0.97 && cbl == 0 && c429 <= 1 && cu >= pu && c429 <= p429 && cbl <= pbl, chart: "B3 crmsync utilisation"})
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// thousands formats n with commas.
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
