package main

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/account"
	"crmsync/internal/apis"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// work builds the limiters, the clients of every account and the runner,
// and runs it until ctx is done.
func (m *Main) work(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer) error {
	c := m.cfg
	if err := m.startLive(ctx, js); err != nil { // onboarded accounts (onboarding.go)
		return err
	}
	ckv, err := retry(ctx, m, "checkpoint bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return jobs.EnsureCheckpoints(ctx, js, c.ResultsMaxAge, c.StreamReplicas)
	})
	if err != nil {
		return nil // ctx done: a clean stop
	}
	fkv, err := retry(ctx, m, "finished-jobs bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return jobs.EnsureFinished(ctx, js, c.ResultsMaxAge, c.StreamReplicas)
	})
	if err != nil {
		return nil // ctx done: a clean stop
	}
	// Retried like the checkpoint bucket: without it every replica would
	// spend the whole fleet budget on its own until restarted. (On a
	// cluster, replicas creating buckets at once can get no answer.)
	lkv, err := retry(ctx, m, "limiter bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return limiter.EnsureBucket(ctx, js, c.StreamReplicas)
	})
	if err != nil {
		return nil // ctx done: a clean stop
	}
	tkv, err := retry(ctx, m, "locks bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return jobs.EnsureLocks(ctx, js, c.StreamReplicas)
	})
	if err != nil {
		return nil // ctx done: a clean stop
	}
	lims := limiter.NewRegistry(limiter.Config{
		MaxBlock: c.LimiterMaxBlock, MaxWait: c.HoldRateLimit, KV: lkv, Metrics: m.metrics, Logger: m.log,
	})
	m.closers = append(m.closers, lims.Close)

	reg, err := account.New(account.Config{
		Profiles: m.profiles, Defaults: defaults(c),
		HTTPClient: apis.NewHTTPClient(c.HTTPTimeout), AllowInsecureHTTP: c.AllowInsecureHTTP || m.sandbox,
		Limiters:  lims,
		Observer:  m.metrics.ObserveAPI,
		OnSession: m.sessionEvent,
		Dynamic:   m.dynamic(),
		Locks:     jobs.NewLocks(tkv),
	})
	if err != nil {
		return err
	}
	m.log.Info("accounts ready", "accounts", reg.Len())

	creds, pace, room := credentials(c, m.profiles, lims, m.dynamic())
	r, err := jobs.NewRunner(js, cons, ckv, reg, jobs.Config{
		Concurrency: c.Concurrency, MaxAttempts: c.MaxAttempts, AckWait: c.AckWait, ShutdownGrace: c.ShutdownGrace,
		APIConcurrency: map[string]int{jobs.APIKlickTipp: c.ConcurrencyKlickTipp, jobs.APIKlipy: c.ConcurrencyKlipy, jobs.APIClickyID: c.ConcurrencyClickyID},
		LiveSlots:      liveSlots(c.LiveSlots), Credentials: creds, Pace: pace, Room: room,
		RetryBase: c.RetryBaseDelay, RetryMax: c.RetryMaxDelay, Hold: c.HoldRateLimit,
		Limits: jobs.Limits{MaxBytes: c.MaxJobBytes, MaxItems: c.MaxJobItems},
		Logger: m.log, Metrics: m.metrics, Finished: fkv,
	})
	if err != nil {
		return err
	}
	m.log.Info("worker started", "concurrency", c.Concurrency, "live_slots", c.LiveSlots, "lanes", 2*len(creds), "max_attempts", c.MaxAttempts, "gc", m.gc)
	close(m.running)
	err = r.Run(ctx)
	m.log.Info("worker stopped")
	return err
}

func (m *Main) sessionEvent(e klicktipp.SessionEvent) {
	switch e {
	case klicktipp.SessionOpened:
		m.metrics.SessionsOpened.Inc()
		m.metrics.SessionsOpen.Inc()
	case klicktipp.SessionClosed:
		m.metrics.SessionsClosed.Inc()
		m.metrics.SessionsOpen.Dec()
	case klicktipp.SessionRelogin:
		m.metrics.SessionRelogins.Inc()
	}
}
