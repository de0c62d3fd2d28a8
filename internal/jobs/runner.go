package jobs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sourcegraph/conc/pool"

	"crmsync/internal/metrics"
)

// Config tunes a Runner. Zero fields take the defaults stated.
type Config struct {
	Concurrency   int           // jobs processed at once; default 8
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

// Runner pulls jobs from the durable consumer and runs them. Create it with
// NewRunner; Run may be called once.
type Runner struct {
	js     jetstream.JetStream
	cons   jetstream.Consumer
	kv     jetstream.KeyValue
	router Router
	cfg    Config
	log    *slog.Logger
	m      *metrics.Metrics
	maxMsg int
}

// NewRunner builds a runner. checkpoints should be the bucket from
// EnsureCheckpoints; nil runs without resume (a redelivered job is redone
// from its first item, and failed attempts are counted by deliveries,
// rate-limit hand-backs included). It returns an error when a required
// dependency is missing.
func NewRunner(js jetstream.JetStream, cons jetstream.Consumer, checkpoints jetstream.KeyValue, router Router, cfg Config) (*Runner, error) {
	if js == nil || cons == nil || router == nil {
		return nil, errors.New("jobs: NewRunner needs a JetStream, a consumer and a router")
	}
	cfg = cfg.withDefaults()
	maxMsg := 1 << 20
	if nc := js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		maxMsg = int(nc.MaxPayload())
	}
	return &Runner{js: js, cons: cons, kv: checkpoints, router: router, cfg: cfg, log: cfg.Logger, m: cfg.Metrics, maxMsg: maxMsg - 8<<10}, nil
}

// Run pulls and processes jobs until ctx is done. Then it stops pulling,
// gives in-flight jobs ShutdownGrace to finish, cancels the rest (their
// handlers log out and return; the messages are handed back at once, not
// counted as attempts) and returns nil once every job goroutine has ended.
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

	n := r.cfg.Concurrency
	slots := make(chan struct{}, n)
	p := pool.New().WithMaxGoroutines(n + 1)
	p.Go(func() { r.samplePending(ctx) })
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		// Take one free slot (waiting for it), then any others free now:
		// messages are pulled only for slots that can start them at once.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		k := 1
	more:
		for k < n {
			select {
			case slots <- struct{}{}:
				k++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := r.cons.Fetch(k, jetstream.FetchContext(fctx))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				p.Go(func() {
					defer func() { <-slots }()
					r.process(jobCtx, msg)
				})
			}
			err = batch.Error()
		}
		cancel()
		for i := got; i < k; i++ {
			<-slots
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			r.log.Warn("fetching jobs failed; retrying", "err", err, "retry_in", delay)
			_ = sleep(ctx, delay)
			delay = min(delay*2, 5*time.Second)
			continue
		}
		delay = 100 * time.Millisecond
	}
	r.log.Info("stopped pulling jobs; waiting for in-flight jobs", "grace", r.cfg.ShutdownGrace)
	p.Wait()
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
