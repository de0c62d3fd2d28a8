package jobs

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lookup is what a lane's fetcher found in the finished bucket for the job
// of the message it holds, and when.
type lookup struct {
	id string
	f  *Finish // nil: not finished
	at time.Time
}

// prechecked is a lane message with its fetcher's lookup.
type prechecked struct {
	jetstream.Msg
	lookup
}

// lookupFresh is the oldest a fetcher's lookup may be when its job starts
// and still be used instead of asking the bucket again. The check is a
// guard against a job id run twice, not a lock: a lookup this fresh leaves
// no window a lookup at the start would close.
const lookupFresh = 2 * time.Second

// precheck looks msg's job up in the finished bucket (by the id the intake
// wrote on the lane message) while the message waits to be offered, so the
// round trip is off the job's slot: a job whose slot is free when its
// lookup is done starts no later, and one that waits for a slot starts
// without it. A message without the id, or a lookup that fails, is offered
// as it is; process then looks it up itself.
func (s *scheduler) precheck(ctx context.Context, msg jetstream.Msg) jetstream.Msg {
	if s.r.cfg.Finished == nil {
		return msg
	}
	id := msg.Headers().Get(headerJobID)
	if id == "" {
		return msg
	}
	lctx, cancel := context.WithTimeout(ctx, natsTimeout)
	f, err := LookUpFinished(lctx, s.r.cfg.Finished, id)
	cancel()
	if err != nil {
		return msg
	}
	return &prechecked{Msg: msg, lookup: lookup{id: id, f: f, at: time.Now()}}
}

// prelooked returns the fetcher's lookup of msg's job id, if it has a
// fresh one.
func prelooked(msg jetstream.Msg, id string) (*Finish, bool) {
	lm, ok := msg.(*laneMsg)
	if !ok || lm.looked == nil || lm.looked.id != id || time.Since(lm.looked.at) >= lookupFresh {
		return nil, false
	}
	return lm.looked.f, true
}
