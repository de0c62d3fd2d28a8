package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/metrics"
)

// Config tunes a Runner. Zero fields take the defaults stated.
type Config struct {
	Concurrency int // jobs processed at once by this replica; default 8
	// APIConcurrency caps the jobs of one API (APIKlickTipp, APIKlipy,
	// APIClickyID) running at once; a missing, zero or larger entry is
	// Concurrency.
	APIConcurrency map[string]int
	// LiveSlots is how many of the Concurrency slots only live jobs may
	// take; 0 takes the default 1, negative means none. At most
	// Concurrency-1 take effect, so backfills always have a slot.
	LiveSlots int
	// Credentials are the API+account pairs known at start: their lanes'
	// consumers are created before the first job arrives. Lanes of other
	// credentials are created when a job for them is first moved, or found
	// when another replica created them.
	Credentials []Credential
	// Pace returns how long a request for a credential would wait on its
	// rate limiter now (nil: never). A lane whose credential waits longer
	// than Hold starts nothing (its jobs would only be handed back); a lane
	// already running a job starts another only when its credential has had
	// budget at every look (every 50 ms) for a second, and during the first
	// second of a spell of work only when its last start is 250 ms old (the
	// ramp) or Room says the budget is plentiful, so a saturated or blocked
	// credential does not take slots other credentials' jobs could use.
	// Called from one goroutine; it must be cheap (a limiter's Delay).
	Pace func(Credential) time.Duration
	// Room returns how many requests for a credential could go at once now
	// (nil: the ramp always applies). A lane whose credential has room for
	// rampRoom requests per running job and one more skips the ramp: the
	// limiter cannot start pacing before its next look, so waiting 250 ms
	// between starts would only leave slots idle. Called like Pace (a
	// limiter's Room).
	Room func(Credential) int
	// LaneScan is how often lanes made by other replicas are looked for,
	// lane consumers deleted by hand are recreated, and the lane metrics
	// are sampled; default 5s.
	LaneScan      time.Duration
	MaxAttempts   int           // failed attempts without progress before dead-lettering; default 8
	AckWait       time.Duration // the consumer's ack wait; heartbeats every third of it; default 60s
	ShutdownGrace time.Duration // time in-flight jobs get after Run's ctx is done; default 30s
	RetryBase     time.Duration // first transient-retry delay, doubling; default 2s
	RetryMax      time.Duration // cap of the transient-retry delay; default 5m
	Hold          time.Duration // longest rate-limit wait a job holds its slot for; default 10s
	Limits        Limits        // envelope limits
	// CheckpointEvery is how often a running job's progress is saved;
	// default 250ms. A crash redoes at most the items of this interval
	// plus those in flight.
	CheckpointEvery time.Duration
	Logger          *slog.Logger     // default slog.Default()
	Metrics         *metrics.Metrics // may be nil

	// Finished is the bucket from EnsureFinished: a job whose id has a
	// final result is acked without running again. Nil leaves that to the
	// broker's duplicate window.
	Finished jetstream.KeyValue
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	def(&c.AckWait, 60*time.Second)
	def(&c.ShutdownGrace, 30*time.Second)
	def(&c.RetryBase, 2*time.Second)
	def(&c.RetryMax, 5*time.Minute)
	def(&c.Hold, 10*time.Second)
	def(&c.CheckpointEvery, 250*time.Millisecond)
	def(&c.LaneScan, 5*time.Second)
	switch {
	case c.LiveSlots == 0:
		c.LiveSlots = 1
	case c.LiveSlots < 0:
		c.LiveSlots = 0
	}
	c.LiveSlots = min(c.LiveSlots, c.Concurrency-1)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.withDefaults()
	return c
}

// natsTimeout bounds each publish, ack and KV call the runner makes. It is
// short on purpose: a call that cannot finish in it (the server is
// restarting) is given up, the message is redelivered, and Nats-Msg-Id
// dedupe keeps a repeated publish from counting twice, so a slot is never
// held long by a broker outage.
const natsTimeout = 5 * time.Second

// Runner moves jobs from the intake consumer onto their lanes, and runs
// them from the lanes (or, onto a free slot of an idle lane, straight from
// the intake). Create it with NewRunner; Run may be called once.
type Runner struct {
	// wrapLane, when set (tests: export_test.go), wraps every lane
	// consumer the runner binds.
	wrapLane func(jetstream.Consumer) jetstream.Consumer
	// moveAll (tests) moves every job onto its lane: none starts from the
	// intake.
	moveAll bool

	js     jetstream.JetStream
	cons   jetstream.Consumer
	kv     jetstream.KeyValue
	router Router
	cfg    Config
	log    *slog.Logger
	m      *metrics.Metrics
	maxMsg int
}

// NewRunner builds a runner on the intake consumer cons (from Setup); the
// lane consumers copy its ack wait, max ack pending and replicas.
// checkpoints should be the bucket from
// EnsureCheckpoints; nil runs without resume (a redelivered job is redone
// from its first item, and failed attempts are counted by deliveries,
// rate-limit hand-backs included). It returns an error when a required
// dependency is missing.
func NewRunner(js jetstream.JetStream, cons jetstream.Consumer, checkpoints jetstream.KeyValue, router Router, cfg Config) (*Runner, error) {
	if js == nil || cons == nil || router == nil {
		return nil, errors.New("jobs: NewRunner needs a JetStream, a consumer and a router")
	}
	if cons.CachedInfo() == nil {
		return nil, errors.New("jobs: NewRunner needs the intake consumer's info (use the consumer Setup returns)")
	}
	for _, c := range cfg.Credentials {
		if !ValidAccount(c.Account) {
			return nil, fmt.Errorf("jobs: account %q: a name must be 1-64 letters, digits, '_' or '-'", c.Account)
		}
	}
	cfg = cfg.withDefaults()
	maxMsg := 1 << 20
	if nc := js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		maxMsg = int(nc.MaxPayload())
	}
	return &Runner{js: js, cons: cons, kv: checkpoints, router: router, cfg: cfg, log: cfg.Logger, m: cfg.Metrics, maxMsg: maxMsg - 8<<10}, nil
}

// Run moves and runs jobs until ctx is done. Then it stops pulling, hands
// back the lane messages it had fetched but not started, gives in-flight
// jobs ShutdownGrace to finish, cancels the rest (their handlers log out
// and return; the messages are handed back at once, not counted as
// attempts) and returns nil once every goroutine it started has ended.
func (r *Runner) Run(ctx context.Context) error {
	// Jobs run on their own context, cancelled ShutdownGrace after ctx.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(r.cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			r.log.Warn("shutdown grace over; handing back unfinished jobs", "grace", r.cfg.ShutdownGrace)
			cancelJobs()
		case <-jobCtx.Done():
		}
	})
	defer stopGrace()

	s := newScheduler(r, ctx, jobCtx)
	for _, l := range LanesOf(r.cfg.Credentials) {
		if _, err := s.lane(ctx, l); err != nil && ctx.Err() == nil {
			// Not fatal: the scan and the intake create it later.
			r.log.Warn("cannot create lane consumer yet; retrying later", "lane", l.String(), "err", err)
		}
	}
	s.wg.Go(func() { r.samplePending(ctx) })
	s.wg.Go(func() { s.intake(ctx) })
	s.wg.Go(func() { s.scan(ctx) })
	s.loop(ctx)
	r.log.Info("stopped pulling jobs; waiting for in-flight jobs", "grace", r.cfg.ShutdownGrace)
	s.wg.Wait()
	r.log.Info("runner stopped")
	return nil
}

// samplePending updates the consumer-pending gauge every 5 s.
func (r *Runner) samplePending(ctx context.Context) {
	if r.m == nil {
		return
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if info, err := r.cons.Info(ictx); err == nil {
			r.m.ConsumerPending.Set(float64(info.NumPending))
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backoff is the delay before failed attempt n+1: RetryBase·2^(n-1), capped
// at RetryMax, with jitter in [d/2, d].
func (r *Runner) backoff(n int) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < n && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}

func (r *Runner) count(kind Kind, outcome string, start time.Time) {
	if r.m == nil {
		return
	}
	k := string(kind)
	if !kind.valid() {
		k = "invalid"
	}
	r.m.JobsTotal.WithLabelValues(k, outcome).Inc()
	r.m.JobDuration.WithLabelValues(k).Observe(time.Since(start).Seconds())
}

func (r *Runner) retried(kind Kind, reason string, start time.Time) {
	if r.m == nil {
		return
	}
	r.m.JobRetries.WithLabelValues(string(kind), reason).Inc()
	r.m.JobDuration.WithLabelValues(string(kind)).Observe(time.Since(start).Seconds())
}
