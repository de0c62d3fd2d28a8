package jobs

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// offer is an intake message the intake asks the scheduler to start at
// once, on lane l, instead of moving it there; taken receives the answer.
type offer struct {
	l     *lane
	msg   jetstream.Msg
	taken chan bool
}

// offer asks the scheduler to start intake message msg of lane l (a first
// delivery) now, as if it had come off the lane: it does when a slot is free that the lanes'
// heads do not take first, l has no job waiting (so the job overtakes
// none of its lane's), and l may start a job (the API's cap, the
// credential's pacing and ramp, the slots kept for live jobs). The job then
// runs from the intake message, which is acked when it ends, and is never
// published to the lane: a burst of jobs onto idle slots starts without
// a publish and a fetch each. It reports false when the job must be moved
// as usual: the pool is busy, the lane has work, or the runner stops.
func (s *scheduler) offer(l *lane, msg jetstream.Msg) bool {
	if s.r.moveAll || l.hasHead() {
		return false // the usual case under a backlog: no round trip to the loop
	}
	o := offer{l: l, msg: msg, taken: make(chan bool, 1)}
	select {
	case s.offers <- o:
		return <-o.taken // the loop answers every offer it receives
	case <-s.ctx.Done():
		return false
	}
}

// take is the loop's side of offer: it fills the slots from the lanes'
// heads first, then starts msg on l if a slot is still free and the
// lane's rules allow it.
func (s *scheduler) take(l *lane, msg jetstream.Msg) bool {
	s.fill()
	if s.running >= s.n || l.hasHead() {
		return false
	}
	if l.Backfill && s.backRunning >= s.n-s.liveSlots {
		return false // the rest is kept for live jobs
	}
	if !s.allowed(l, time.Now()) {
		return false
	}
	s.start(l, msg)
	return true
}
