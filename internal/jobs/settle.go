package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

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
		r.m.ResultsPublished.WithLabelValues(string(res.Kind), res.Status).Inc() // items are counted as they finish (Attempt.record)
	}
	return nil
}

// finishDead dead-letters the message, publishes a failed result naming the
// reason, and acks the message off the work queue.
func (r *Runner) finishDead(ctx context.Context, msg jetstream.Msg, seq uint64, job *Job, cp *checkpoint, a *Attempt, reason string, attempts int, log *slog.Logger) {
	if !r.deadLetter(ctx, msg, seq, job.Kind, job.ID, reason, attempts, log) {
		return
	}
	res := r.result(job, cp, a, reason)
	err := r.publishResult(ctx, res, seq)
	if err != nil && len(res.Items) > 0 {
		// What can never fit: the counts and the reason, without items.
		log.Warn("cannot publish the dead-lettered job's result; publishing it without its items", "err", err)
		short := *res
		short.Items = []ItemResult{}
		short.Error = oneLine(reason + " (the items are left out of this result: it could not be published with them)")
		res, err = &short, r.publishResult(ctx, &short, seq)
	}
	if err != nil {
		log.Warn("dead-lettered, but cannot publish its result", "err", err)
	} else {
		r.markFinished(res, msg, seq, log)
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
// redelivery resumes instead of redoing the job. Without a checkpoint there
// is nothing to wait for: the ack goes without a round trip (a lost one
// brings the message back after WORKER_ACK_WAIT, and its job is found
// finished, or its dead letter deduplicated).
func (r *Runner) ack(msg jetstream.Msg, seq uint64, cp *checkpoint, log *slog.Logger) {
	if cp == nil || !cp.stored {
		if err := msg.Ack(); err != nil {
			log.Warn("ack not sent; a redelivery will find the job finished", "err", err)
		}
		return
	}
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

// saveCheckpoint stores cp and reports whether it was stored. A checkpoint
// too large for the server is stored without its items (a redelivery
// redoes them; upserts are idempotent), so the attempt counts survive.
func (r *Runner) saveCheckpoint(cp *checkpoint, seq uint64, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	short, err := saveCheckpoint(ctx, r.kv, seq, cp, r.maxMsg)
	if short && !cp.short {
		cp.short = true
		log.Warn("checkpoint too large for the server; saved without its items (a redelivery redoes them)", "items", len(cp.Items), "max_bytes", r.maxMsg)
	}
	if err != nil {
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
