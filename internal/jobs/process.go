package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// process runs one message to its outcome. It never panics. free, when
// not nil, is called once the job needs its slot no more: after its
// handler returns, before its result, finished mark and ack (round trips
// to the server, not to the API) — so the next job starts meanwhile — or
// at the latest when process returns.
func (r *Runner) process(ctx context.Context, msg jetstream.Msg, free func()) {
	if free != nil {
		defer free()
	}
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
		if r.alreadyFinished(ctx, msg, seq, meta.NumDelivered, inv.Kind, id, log.With("job", id)) {
			return
		}
		log.Warn("invalid job; dead-lettering", "job", id, "reason", inv.Reason)
		if r.deadLetter(ctx, msg, seq, inv.Kind, id, inv.Reason, 0, log) && inv.Kind.valid() {
			// Its kind is known, so its publisher may be waiting for a result.
			res := &Result{ID: id, Kind: inv.Kind, Attempt: 0, Started: start.UTC(), Finished: time.Now().UTC(),
				Items: []ItemResult{}, DeadLettered: true, Error: oneLine(inv.Reason)}
			res.finish()
			if err := r.publishResult(ctx, res, seq); err != nil {
				log.Warn("dead-lettered, but cannot publish its result", "err", err)
			} else {
				r.markFinished(res, msg, seq, log)
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
	if r.alreadyFinished(ctx, msg, seq, meta.NumDelivered, job.Kind, job.ID, log) {
		return
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
	a.count(r.m)
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

	if free != nil {
		free() // what is left is settling with the server
	}
	out, wait := classify(herr)
	if out != outcomeDone && ctx.Err() != nil {
		out, wait = outcomeHandBack, 0 // shutting down: hand back, not counted
	}
	if out != outcomeDone {
		cp.Items, _ = a.snapshot()
	}
	switch out {
	case outcomeDone:
		res := r.result(job, cp, a, "")
		if err := r.publishResult(ctx, res, seq); err != nil {
			// A failed attempt like any other (the result too large, the
			// stream refusing it, the server away): counted, so that what
			// can never be published ends in the dead-letter stream
			// instead of looping.
			cp.Items, _ = a.snapshot()
			cp.Failures++
			cp.LastError = oneLine("publishing the result: " + err.Error())
			if cp.Failures >= r.cfg.MaxAttempts {
				reason := fmt.Sprintf("gave up after %d failed attempts: cannot publish the result: %v", cp.Failures, err)
				log.Error("cannot publish the result, too often; dead-lettering", "attempts", cp.Failures, "err", err)
				r.finishDead(ctx, msg, seq, job, cp, a, reason, cp.Failures, log)
				r.count(job.Kind, "dead_lettered", start)
				return
			}
			d := r.backoff(cp.Failures)
			log.Error("cannot publish result; job will be redelivered", "err", err, "attempt", cp.Failures, "max_attempts", r.cfg.MaxAttempts, "retry_in", d.Round(time.Millisecond))
			r.saveCheckpoint(cp, seq, log)
			_ = msg.NakWithDelay(d)
			r.retried(job.Kind, "transient", start)
			return
		}
		r.markFinished(res, msg, seq, log)
		r.ack(msg, seq, cp, log)
		r.count(job.Kind, res.Status, start)
		log.Info("job finished", "status", res.Status, "succeeded", res.Counts.Succeeded, "failed", res.Counts.Failed, "attempt", cp.Attempts, "took", time.Since(start).Round(time.Millisecond))
	case outcomeHandBack:
		r.saveCheckpoint(cp, seq, log)
		reason := "rate_limited"
		if ctx.Err() != nil {
			reason = "shutdown"
			if errors.Is(context.Cause(ctx), errYield) {
				reason = "yielded" // its slot went to a live job or another account's backfill
			}
		}
		log.Info("handing job back", "reason", reason, "delay", wait.Round(time.Millisecond), "done", len(cp.Items), "items", job.Items(), "err", herr)
		_ = msg.NakWithDelay(wait)
		r.retried(job.Kind, reason, start)
	case outcomeRetry:
		if a.progressed() {
			cp.Failures = 0
		}
		cp.Failures++
		cp.LastError = oneLine(herr.Error())
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
					cp.short = c.short
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
