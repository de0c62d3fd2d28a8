package jobs

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lookup is what a lane's fetcher finds in the finished bucket for the job
// of the message it holds: done closes when f and ok are set (ok false:
// the lookup failed, and process asks again).
type lookup struct {
	id   string
	at   time.Time // when it was asked
	done chan struct{}
	f    *Finish // nil: not finished
	ok   bool
}

// prechecked is a lane message with its fetcher's lookup.
type prechecked struct {
	jetstream.Msg
	*lookup
}

// lookupFresh is the oldest a fetcher's lookup may be when its job starts
// and still be used instead of asking the bucket again. The check is a
// guard against a job id run twice, not a lock: a lookup this fresh leaves
// no window a lookup at the start would close.
const lookupFresh = 2 * time.Second

// precheck starts looking msg's job up in the finished bucket (by the id
// the intake wrote on the lane message) as the fetcher offers it, so the
// round trip runs while the message waits for a slot, or while its job is
// being started, instead of inside the job's slot. A message without the
// id is offered as it is; process then looks it up itself.
func (s *scheduler) precheck(ctx context.Context, msg jetstream.Msg) jetstream.Msg {
	if s.r.cfg.Finished == nil {
		return msg
	}
	id := msg.Headers().Get(headerJobID)
	if id == "" {
		return msg
	}
	lk := &lookup{id: id, at: time.Now(), done: make(chan struct{})}
	s.wg.Go(func() {
		defer close(lk.done)
		lctx, cancel := context.WithTimeout(ctx, natsTimeout)
		defer cancel()
		f, err := LookUpFinished(lctx, s.r.cfg.Finished, id)
		lk.f, lk.ok = f, err == nil
	})
	return &prechecked{Msg: msg, lookup: lk}
}

// prelooked waits for the fetcher's lookup of msg's job id, if it made one
// lately, and returns it; ok is false when there is none to use.
func prelooked(ctx context.Context, msg jetstream.Msg, id string) (*Finish, bool) {
	lm, isLane := msg.(*laneMsg)
	if !isLane || lm.looked == nil || lm.looked.id != id || time.Since(lm.looked.at) >= lookupFresh {
		return nil, false
	}
	select {
	case <-lm.looked.done:
		return lm.looked.f, lm.looked.ok
	case <-ctx.Done():
		return nil, false
	}
}
