package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp/klicktipptest"
)

const clickyKey = clickyidtest.DefaultAPIKey

// world is one measured run: a fresh broker and fresh fakes in this process,
// and the sides (crmsync's worker, the peer, the bare loop) as child
// processes, so each side's CPU time and memory are its own.
type world struct {
	dir  string
	bins *binaries
	b    *broker
	kt   *klicktipptest.Server
	ci   *clickyidtest.Server
	n    int // children started, for log names
}

type worldConfig struct {
	latency time.Duration      // added to every fake answer
	ktLimit apistest.RateLimit // KlickTipp's limit per credential; zero: none
	ciLimit apistest.RateLimit // ClickyID's; zero: none
	ciOpts  []clickyidtest.Option
}

func newWorld(parent string, bins *binaries, cfg worldConfig) (*world, error) {
	dir, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		return nil, err
	}
	b, err := startBroker(filepath.Join(dir, "nats"))
	if err != nil {
		return nil, err
	}
	w := &world{dir: dir, bins: bins, b: b}
	w.kt = klicktipptest.NewServer(klicktipptest.WithRateLimit(cfg.ktLimit))
	w.ci = clickyidtest.NewServer(append([]clickyidtest.Option{clickyidtest.WithRateLimit(cfg.ciLimit)}, cfg.ciOpts...)...)
	if cfg.latency > 0 {
		w.kt.SetFaults(apistest.Faults{Latency: cfg.latency}, 1)
		w.ci.SetFaults(apistest.Faults{Latency: cfg.latency}, 1)
	}
	return w, nil
}

func (w *world) Close() {
	w.kt.Close()
	w.ci.Close()
	w.b.Close()
	_ = os.RemoveAll(w.dir)
}

func (w *world) logPath(name string) string {
	w.n++
	return filepath.Join(w.dir, fmt.Sprintf("%02d-%s.log", w.n, name))
}

// requests returns the requests both fakes received.
func (w *world) requests() []apistest.Request {
	return append(w.kt.Requests(), w.ci.Requests()...)
}

// workerEnv is the environment of crmsync's worker in a world: NATS and the
// fakes on loopback, the sandbox credentials, rates so high they never bind
// unless the workload sets them.
func (w *world) workerEnv(httpAddr string, slots int, extra map[string]string) []string {
	env := map[string]string{
		"NATS_URL": w.b.URL, "HTTP_ADDR": httpAddr, "LOG_LEVEL": "warn",
		"WORKER_CONCURRENCY": strconv.Itoa(slots), "WORKER_SHUTDOWN_GRACE": "5s",
		"KLICKTIPP_BASE_URL": w.kt.URL, "KLICKTIPP_USERNAME": klicktipptest.Username, "KLICKTIPP_PASSWORD": klicktipptest.Password,
		"KLICKTIPP_RATE": "1000000", "KLICKTIPP_BURST": "1000000",
		"CLICKYID_BASE_URL": w.ci.URL, "CLICKYID_API_KEY": clickyKey,
		"CLICKYID_RATE": "1000000", "CLICKYID_BURST": "1000000",
	}
	for _, class := range []string{"SINGLE", "BULK", "TARGET_GROUPS", "OFFERS"} {
		env["CLICKYID_"+class+"_PER_MINUTE"], env["CLICKYID_"+class+"_BURST"] = "60000000", "1000000"
	}
	if p := w.bins.profile(); p != "" {
		env["WORKER_CPU_PROFILE"] = p
	}
	for k, v := range extra {
		env[k] = v
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// startWorker starts crmsync's worker and waits for /readyz.
func (w *world) startWorker(slots int, extra map[string]string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc(w.logPath("worker"), w.workerEnv(addr, slots, extra), w.bins.worker)
	if err != nil {
		return nil, err
	}
	if err := waitReady(p, "http://"+addr+"/readyz", 60*time.Second); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// startPeer creates the peer's streams and starts it.
func (w *world) startPeer(ctx context.Context, slots, throttle int) (*proc, error) {
	for _, s := range []jetstream.StreamConfig{
		{Name: peerJobs, Subjects: []string{peerJobs}, Retention: jetstream.WorkQueuePolicy},
		{Name: peerResults, Subjects: []string{peerResults}},
	} {
		if _, err := w.b.js.CreateOrUpdateStream(ctx, s); err != nil {
			return nil, err
		}
	}
	log := w.logPath("peer")
	p, err := startProc(log, os.Environ(), w.bins.self, "-role", "peer", "-nats", w.b.URL,
		"-klicktipp", w.kt.URL, "-clickyid", w.ci.URL, "-slots", strconv.Itoa(slots), "-throttle", strconv.Itoa(throttle))
	if err != nil {
		return nil, err
	}
	if err := waitLine(p, log, "peer ready", 60*time.Second); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// runBare runs the bare loop over s to its end and returns its own elapsed
// time and CPU time.
func (w *world) runBare(s spec, slots int) (time.Duration, time.Duration, error) {
	url := w.kt.URL
	if s.API == "clickyid" {
		url = w.ci.URL
	}
	log := w.logPath("bare")
	p, err := startProc(log, os.Environ(), w.bins.self, "-role", "bare", "-api", s.API, "-prefix", s.Prefix,
		"-jobs", strconv.Itoa(s.Jobs), "-per", strconv.Itoa(s.Per), "-slots", strconv.Itoa(slots), "-url", url)
	if err != nil {
		return 0, 0, err
	}
	if err := p.wait(30 * time.Minute); err != nil {
		b, _ := os.ReadFile(log)
		return 0, 0, fmt.Errorf("bare loop: %v\n%s", err, tail(b))
	}
	b, _ := os.ReadFile(log)
	var ns int64
	if _, err := fmt.Sscanf(string(b), "elapsed %d", &ns); err != nil {
		return 0, 0, fmt.Errorf("bare loop output %q: %v", tail(b), err)
	}
	return time.Duration(ns), p.cpu(), nil
}

// throughput is one side's run of a batch: wall time from the first publish
// to the last result, and the side's CPU time in between.
type throughput struct {
	elapsed time.Duration
	cpu     time.Duration
	calls   int
	items   int
	failed  int
}

func (t throughput) itemsPerSec() float64 { return float64(t.items) / t.elapsed.Seconds() }

func (t throughput) cpuPerCall() time.Duration {
	if t.calls == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.calls)
}

// runQueued publishes s to subject and waits for all its results on
// resultsStream, while p (the side doing the work) runs.
func (w *world) runQueued(ctx context.Context, p *proc, subject, resultsStream string, s spec) (throughput, error) {
	follow, err := followResults(ctx, w.b.js, resultsStream)
	if err != nil {
		return throughput{}, err
	}
	before := len(w.requests())
	cpu0 := p.cpu()
	start := time.Now()
	if _, err := publish(ctx, w.b.js, subject, "", s, 0, s.Jobs); err != nil {
		return throughput{}, err
	}
	last, err := follow.until(ctx, all(s))
	if err != nil {
		return throughput{}, err
	}
	return throughput{elapsed: last.Sub(start), cpu: p.cpu() - cpu0, calls: len(w.requests()) - before,
		items: s.items(), failed: failedItems(follow.seen, s)}, nil
}
