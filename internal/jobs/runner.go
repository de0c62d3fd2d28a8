package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
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

// process runs one message to its outcome. It never panics.
func (r *Runner) process(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Error("message without JetStream metadata; terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	seq := meta.Sequence.Stream
	log := r.log.With("seq", seq, "subject", msg.Subject(), "delivery", meta.NumDelivered)
	if r.m != nil {
		r.m.InFlight.Inc()
		defer r.m.InFlight.Dec()
	}

	job, err := Decode(msg.Subject(), msg.Data(), r.cfg.Limits)
	if err != nil {
		var inv *InvalidError
		errors.As(err, &inv)
		id := inv.ID
		if id == "" {
			id = jobID(nil, msg, seq)
		}
		log.Warn("invalid job; dead-lettering", "job", id, "reason", inv.Reason)
		if r.deadLetter(ctx, msg, seq, inv.Kind, id, inv.Reason, 0, log) && inv.Kind.valid() {
			// Its kind is known, so its publisher may be waiting for a result.
			res := &Result{ID: id, Kind: inv.Kind, Attempt: 0, Started: start.UTC(), Finished: time.Now().UTC(),
				Items: []ItemResult{}, DeadLettered: true, Error: oneLine(inv.Reason)}
			res.finish()
			if err := r.publishResult(ctx, res, seq); err != nil {
				log.Warn("dead-lettered, but cannot publish its result", "err", err)
			}
		}
		r.count(inv.Kind, "dead_lettered", start)
		return
	}
	job.ID = jobID(job, msg, seq)
	log = log.With("job", job.ID, "kind", job.Kind, "account", job.Account)
	if job.Target != "" {
		log = log.With("target", job.Target)
	}

	// A first delivery has no checkpoint: skip the KV round trip.
	cp := &checkpoint{}
	if meta.NumDelivered > 1 {
		cctx, cancel := context.WithTimeout(ctx, natsTimeout)
		cp, err = loadCheckpoint(cctx, r.kv, seq)
		cancel()
		switch {
		case errors.Is(err, errCorruptCheckpoint):
			log.Warn("checkpoint is corrupt; starting from the first item", "err", err)
		case err != nil:
			// Without its checkpoint the job would lose its attempt count
			// and redo its items: hand it back until KV answers.
			d := r.backoff(1)
			log.Warn("cannot read checkpoint; handing the job back", "err", err, "retry_in", d)
			_ = msg.NakWithDelay(d)
			r.retried(job.Kind, "checkpoint_unavailable", start)
			return
		}
		if r.kv == nil {
			// No checkpoints at all: count deliveries instead (rate-limit
			// hand-backs then count too, which is the lesser evil).
			cp.Failures = int(meta.NumDelivered) - 1
		}
	}
	if cp.Started.IsZero() {
		cp.Started = start.UTC()
	}
	cp.Attempts++
	a := newAttempt(job, cp.Items, r.cfg.Hold, log)
	for i := 0; i < job.Items(); i++ {
		if !a.Done(i) {
			if err := CheckItem(job, i); err != nil {
				a.Fail(i, err)
			}
		}
	}

	var herr error
	h, rerr := r.router.Route(job)
	if rerr != nil {
		herr = Permanent(rerr)
	} else {
		if len(cp.Items) > 0 {
			log.Info("resuming job from checkpoint", "done", len(cp.Items), "items", job.Items())
		}
		herr = r.run(ctx, h, job, a, msg, seq, cp)
	}

	out, wait := classify(herr)
	if out != outcomeDone && ctx.Err() != nil {
		out, wait = outcomeHandBack, 0 // shutting down: hand back, not counted
	}
	items, _ := a.snapshot()
	cp.Items = items
	switch out {
	case outcomeDone:
		res := r.result(job, cp, a, "")
		if err := r.publishResult(ctx, res, seq); err != nil {
			log.Error("cannot publish result; job will be redelivered", "err", err)
			r.saveCheckpoint(cp, seq, log)
			_ = msg.NakWithDelay(r.backoff(1))
			return
		}
		r.ack(msg, seq, cp, log)
		r.count(job.Kind, res.Status, start)
		log.Info("job finished", "status", res.Status, "succeeded", res.Counts.Succeeded, "failed", res.Counts.Failed, "attempt", cp.Attempts, "took", time.Since(start).Round(time.Millisecond))
	case outcomeHandBack:
		r.saveCheckpoint(cp, seq, log)
		reason := "rate_limited"
		if ctx.Err() != nil {
			reason = "shutdown"
		}
		log.Info("handing job back", "reason", reason, "delay", wait.Round(time.Millisecond), "done", len(cp.Items), "items", job.Items(), "err", herr)
		_ = msg.NakWithDelay(wait)
		r.retried(job.Kind, reason, start)
	case outcomeRetry:
		if a.progressed() {
			cp.Failures = 0
		}
		cp.Failures++
		cp.LastError = herr.Error()
		if cp.Failures >= r.cfg.MaxAttempts {
			reason := fmt.Sprintf("gave up after %d failed attempts: %v", cp.Failures, herr)
			log.Error("job failed too often; dead-lettering", "attempts", cp.Failures, "err", herr)
			r.finishDead(ctx, msg, seq, job, cp, a, reason, cp.Failures, log)
			r.count(job.Kind, "dead_lettered", start)
			return
		}
		d := r.backoff(cp.Failures)
		r.saveCheckpoint(cp, seq, log)
		log.Warn("job failed; will retry", "attempt", cp.Failures, "max_attempts", r.cfg.MaxAttempts, "retry_in", d.Round(time.Millisecond), "err", herr)
		_ = msg.NakWithDelay(d)
		r.retried(job.Kind, "transient", start)
	case outcomeDeadLetter:
		log.Error("job cannot succeed; dead-lettering", "err", herr)
		r.finishDead(ctx, msg, seq, job, cp, a, herr.Error(), cp.Attempts, log)
		r.count(job.Kind, "dead_lettered", start)
	}
}

// run calls the handler with heartbeats and periodic checkpoints, turning a
// panic into a transient error.
func (r *Runner) run(ctx context.Context, h Handler, job *Job, a *Attempt, msg jetstream.Msg, seq uint64, cp *checkpoint) (err error) {
	done := make(chan struct{})
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		hb := time.NewTicker(r.cfg.AckWait / 3)
		defer hb.Stop()
		ck := time.NewTicker(r.cfg.CheckpointEvery)
		defer ck.Stop()
		for {
			select {
			case <-done:
				return
			case <-hb.C:
				_ = msg.InProgress()
			case <-ck.C:
				if items, dirty := a.snapshot(); dirty {
					c := *cp
					c.Items = items
					if r.saveCheckpoint(&c, seq, a.Log) {
						cp.stored = true // read by process only after this goroutine ends
					}
				}
			}
		}
	}()
	defer func() {
		close(done)
		<-beat
		if p := recover(); p != nil {
			a.Log.Error("handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return h.Handle(ctx, job, a)
}

func (r *Runner) result(job *Job, cp *checkpoint, a *Attempt, deadReason string) *Result {
	res := &Result{
		ID: job.ID, Kind: job.Kind, Target: job.Target, Account: job.Account,
		Attempt: cp.Attempts, Started: cp.Started, Finished: time.Now().UTC(),
		Items: a.results("not processed: the job was dead-lettered"),
	}
	if deadReason != "" {
		res.DeadLettered, res.Error = true, oneLine(deadReason)
	}
	res.finish()
	return res
}

// publishResult publishes res (split when too large) with Nats-Msg-Ids
// derived from the job, so a redelivered job does not publish it twice.
func (r *Runner) publishResult(ctx context.Context, res *Result, seq uint64) error {
	parts, err := res.split(r.maxMsg)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), natsTimeout)
	defer cancel()
	base := "result:" + res.ID + ":" + strconv.FormatUint(seq, 10)
	for i, b := range parts {
		h := nats.Header{}
		h.Set(HeaderJobID, res.ID)
		id := base
		if len(parts) > 1 {
			id += ":" + strconv.Itoa(i+1)
			h.Set(HeaderResultPart, strconv.Itoa(i+1)+"/"+strconv.Itoa(len(parts)))
		}
		h.Set(HeaderMsgID, id)
		if _, err := r.js.PublishMsg(pctx, &nats.Msg{Subject: ResultsPrefix + string(res.Kind), Header: h, Data: b}); err != nil {
			return fmt.Errorf("publish result part %d/%d: %w", i+1, len(parts), err)
		}
	}
	if r.m != nil {
		r.m.ResultsPublished.WithLabelValues(string(res.Kind), res.Status).Inc()
		r.m.ItemsTotal.WithLabelValues(string(res.Kind), "succeeded").Add(float64(res.Counts.Succeeded))
		r.m.ItemsTotal.WithLabelValues(string(res.Kind), "failed").Add(float64(res.Counts.Failed))
	}
	return nil
}

// finishDead dead-letters the message, publishes a failed result naming the
// reason, and acks the message off the work queue.
func (r *Runner) finishDead(ctx context.Context, msg jetstream.Msg, seq uint64, job *Job, cp *checkpoint, a *Attempt, reason string, attempts int, log *slog.Logger) {
	if !r.deadLetter(ctx, msg, seq, job.Kind, job.ID, reason, attempts, log) {
		return
	}
	if err := r.publishResult(ctx, r.result(job, cp, a, reason), seq); err != nil {
		log.Warn("dead-lettered, but cannot publish its result", "err", err)
	}
	if cp.stored {
		r.dropCheckpoint(seq, log)
	}
}

// deadLetter publishes to the DLQ and acks; on failure it naks so nothing is
// lost. It reports whether the message was dead-lettered.
func (r *Runner) deadLetter(ctx context.Context, msg jetstream.Msg, seq uint64, kind Kind, id, reason string, attempts int, log *slog.Logger) bool {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), natsTimeout)
	defer cancel()
	if err := deadLetter(pctx, r.js, msg, seq, kind, id, reason, attempts); err != nil {
		log.Error("cannot publish dead letter; job will be redelivered", "err", err)
		_ = msg.NakWithDelay(r.backoff(1))
		return false
	}
	if r.m != nil {
		k := string(kind)
		if !kind.valid() {
			k = "invalid"
		}
		r.m.DeadLetters.WithLabelValues(k).Inc()
	}
	r.ack(msg, seq, nil, log)
	return true
}

// ack acks msg and, once the server has confirmed it, drops the message's
// checkpoint (if one was stored); an unconfirmed ack keeps it, so a
// redelivery resumes instead of redoing the job.
func (r *Runner) ack(msg jetstream.Msg, seq uint64, cp *checkpoint, log *slog.Logger) {
	actx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		log.Warn("ack not confirmed; a redelivery will find the result already published", "err", err)
		return
	}
	if cp != nil && cp.stored {
		r.dropCheckpoint(seq, log)
	}
}

// saveCheckpoint stores cp and reports whether it was stored.
func (r *Runner) saveCheckpoint(cp *checkpoint, seq uint64, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	if err := saveCheckpoint(ctx, r.kv, seq, cp); err != nil {
		log.Warn("cannot save checkpoint; a redelivery redoes these items (upserts are idempotent)", "err", err)
		return false
	}
	cp.stored = r.kv != nil
	return cp.stored
}

func (r *Runner) dropCheckpoint(seq uint64, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	if err := deleteCheckpoint(ctx, r.kv, seq); err != nil {
		log.Debug("cannot delete checkpoint; it expires by TTL", "err", err)
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

// jobID is the envelope's id, else the Nats-Msg-Id, else the stream sequence.
func jobID(job *Job, msg jetstream.Msg, seq uint64) string {
	if job != nil && job.ID != "" {
		return job.ID
	}
	if id := msg.Headers().Get(HeaderMsgID); id != "" {
		return truncate(oneLine(id), 256)
	}
	return strconv.FormatUint(seq, 10)
}
