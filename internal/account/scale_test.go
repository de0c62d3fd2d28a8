package account_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/account"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// BenchmarkManyAccounts measures what many Klipy profiles cost a worker
// with the shared limits bucket on an embedded JetStream server (in this
// process, as the worker's default embedded broker is): goroutines, resident
// memory and CPU while idle, once the registry is ready and again once every
// account has been used (one limiter grant each). Run it once:
//
//	go test -run '^$' -bench ManyAccounts -benchtime 1x ./internal/account/
//
// CRMSYNC_BENCH_ACCOUNTS sets the number of accounts (default 10000).
func BenchmarkManyAccounts(b *testing.B) {
	n := 10000
	if v := os.Getenv("CRMSYNC_BENCH_ACCOUNTS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	srv := brokertest.Start(b)
	_, js := srv.Connect(b)
	ctx := context.Background()
	kv, err := limiter.EnsureBucket(ctx, js, 1)
	if err != nil {
		b.Fatal(err)
	}
	base := runtime.NumGoroutine()
	profiles := make(map[string]account.Profile, n)
	for i := range n {
		profiles[fmt.Sprintf("acct-%05d", i)] = account.Profile{Klipy: &account.Klipy{APIKey: fmt.Sprintf("klipy_api_%040d", i)}}
	}
	for range b.N {
		var warnings atomic.Int64
		log := slog.New(slog.NewTextHandler(countWriter{&warnings}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		lims := limiter.NewRegistry(limiter.Config{KV: kv, Logger: log})
		reg, err := account.New(account.Config{
			Profiles: profiles, Defaults: account.Defaults{KlipyBaseURL: "https://api.klipy.ai/api/v1", KlipyRate: 3.3, KlipyBurst: 10},
			Limiters: lims,
		})
		if err != nil {
			b.Fatal(err)
		}
		idle(b, "ready", base)
		for i := range n {
			if _, err := reg.Route(&jobs.Job{Kind: jobs.KindContactUpsert, Target: "klipy", Account: fmt.Sprintf("acct-%05d", i)}); err != nil {
				b.Fatal(err)
			}
			l, err := lims.For("klipy", fmt.Sprintf("klipy_api_%040d", i), 3.3, 10)
			if err != nil {
				b.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = l.Wait(wctx)
			cancel()
			if err != nil {
				b.Fatalf("account %d: limiter Wait: %v", i, err)
			}
		}
		idle(b, "used", base)
		b.ReportMetric(float64(warnings.Load()), "kv_warnings")
		if st, err := kv.Status(ctx); err == nil {
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				b.ReportMetric(float64(bs.StreamInfo().State.Consumers), "kv_consumers")
			}
		}
		lims.Close()
	}
}

// idle reports goroutines (beyond base), RSS and the CPU used over 5s of idling.
func idle(b *testing.B, phase string, base int) {
	b.Helper()
	runtime.GC()
	time.Sleep(time.Second) // settle: watches delivering their initial values
	before := cpu()
	start := time.Now()
	time.Sleep(5 * time.Second) // measuring idle CPU needs idle wall time
	busy := (cpu() - before).Seconds() / time.Since(start).Seconds()
	b.ReportMetric(float64(runtime.NumGoroutine()-base), phase+"_goroutines")
	b.ReportMetric(rssMB(), phase+"_rss_MB")
	b.ReportMetric(busy, phase+"_idle_cores")
}

// countWriter counts the log lines written to it.
type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) { w.n.Add(1); return len(p), nil }

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
