package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// intakeBatch is how many intake messages one pull asks for.
const intakeBatch = 64

// intake moves jobs from the intake consumer onto their lanes until ctx is
// done. It holds no slot: moving is quick, and a full pool must not stop
// a live job from reaching its lane.
func (s *scheduler) intake(ctx context.Context) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		batch, err := s.r.cons.Fetch(intakeBatch, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range batch.Messages() {
				s.move(msg)
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			s.r.log.Warn("fetching jobs failed; retrying", "err", err, "retry_in", delay)
			_ = sleep(ctx, delay)
			delay = min(delay*2, 5*time.Second)
			continue
		}
		delay = 100 * time.Millisecond
	}
}

// move checks an intake message's envelope (DecodeHead: kind, target,
// account; its items are decoded once, when the job runs) and publishes it
// to its lane, acking it once the lane publish is confirmed — unless a
// slot is free and the lane idle, when the job starts at once from the
// intake message (see offer). A message whose envelope can never succeed
// (invalid, or for an account or API without credentials) is dead-lettered
// from the intake as before lanes existed; one whose items are invalid is
// dead-lettered when its job starts. When the lane publish fails the
// message is handed back and moved again later; the lane message's
// Nats-Msg-Id keeps that from queueing the job twice.
func (s *scheduler) move(msg jetstream.Msg) {
	r := s.r
	meta, err := msg.Metadata()
	if err != nil {
		r.log.Error("message without JetStream metadata; terminating it", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	job, err := DecodeHead(msg.Subject(), msg.Data(), r.cfg.Limits)
	if err == nil {
		_, err = r.router.Route(job)
	}
	if err != nil {
		r.process(s.jobCtx, msg, nil) // dead-letters it, with its result
		return
	}
	log := r.log.With("seq", meta.Sequence.Stream, "subject", msg.Subject())
	if n := len(msg.Data()); n > r.maxMsg {
		s.deadLetterIntake(msg, meta, job, fmt.Sprintf("body is %d bytes, leaving no room for the worker's lane headers within the server's max_payload; keep jobs under %d bytes (WORKER_MAX_JOB_BYTES)", n, r.maxMsg))
		return
	}
	l := laneOf(job, msg.Headers())
	ln, err := s.lane(s.ctx, l)
	if err != nil {
		d := r.backoff(1)
		log.Warn("cannot create the job's lane; handing it back", "lane", l.String(), "err", err, "retry_in", d)
		_ = msg.NakWithDelay(d)
		return
	}
	// Only a first delivery may start here: a redelivered intake message
	// may have been moved before (its ack lost) and be running from its
	// lane now; moving it again is deduplicated.
	if meta.NumDelivered == 1 && s.offer(ln, msg) {
		return // started from the intake: a free slot and an idle lane
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), natsTimeout)
	_, err = r.js.PublishMsg(pctx, laneMessage(l, msg, meta, jobID(job, msg, meta.Sequence.Stream)))
	cancel()
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// The stream refused it (full: JOBS_MAX_BYTES). Moving needs room
		// for a copy; when intake messages alone fill the stream, nothing
		// would ever free any. Run this one from the intake instead.
		log.Warn("cannot move job onto its lane; running it from the intake", "lane", l.String(), "err", err)
		s.overflow(msg)
		return
	}
	if err != nil {
		d := r.backoff(1)
		log.Warn("cannot move job onto its lane; handing it back", "lane", l.String(), "err", err, "retry_in", d)
		_ = msg.NakWithDelay(d)
		return
	}
	// Lost ack: the message comes back, and its lane publish is deduplicated.
	_ = msg.Ack()
}

// deadLetterIntake dead-letters a valid job that cannot be moved, with a
// failed result.
func (s *scheduler) deadLetterIntake(msg jetstream.Msg, meta *jetstream.MsgMetadata, job *Job, reason string) {
	r := s.r
	start := time.Now()
	id := jobID(job, msg, meta.Sequence.Stream)
	l := r.log.With("seq", meta.Sequence.Stream, "job", id)
	l.Warn("job cannot be queued; dead-lettering", "reason", reason)
	if r.deadLetter(s.jobCtx, msg, meta.Sequence.Stream, job.Kind, id, reason, 0, l) {
		res := &Result{ID: id, Kind: job.Kind, Target: job.Target, Account: job.Account, Started: start.UTC(), Finished: time.Now().UTC(),
			Items: []ItemResult{}, DeadLettered: true, Error: oneLine(reason)}
		res.finish()
		if err := r.publishResult(s.jobCtx, res, meta.Sequence.Stream); err != nil {
			l.Warn("dead-lettered, but cannot publish its result", "err", err)
		}
	}
	r.count(job.Kind, "dead_lettered", start)
}

// overflow hands an intake message to the scheduler to run as it is (as a
// live job, ahead of the lanes), waiting with heartbeats until a slot takes
// it; on shutdown it is handed back.
func (s *scheduler) overflow(msg jetstream.Msg) {
	hb := time.NewTicker(s.r.cfg.AckWait / 3)
	defer hb.Stop()
	for {
		select {
		case s.direct <- msg:
			s.wake()
			return
		case <-hb.C:
			_ = msg.InProgress()
		case <-s.ctx.Done():
			_ = msg.Nak()
			return
		}
	}
}
