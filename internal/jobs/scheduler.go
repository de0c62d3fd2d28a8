package jobs

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/apis"
)

// ramp is how long after a lane started a job it may start another during
// its first settle of work: long enough for the first job's requests to show
// in the limiter (a login and the first calls at a few hundred ms of
// latency), so a burst of starts does not fill every slot with jobs that
// will only wait on one credential's budget. A lane whose credential has
// shown no pacing for settle since it got busy starts jobs without it.
const ramp = 250 * time.Millisecond

// rampRoom is the budget, in requests per job running on a lane and the
// one it would start, that lets the lane start jobs without the ramp: far
// more than a job's first requests (a login, the tag list, its first
// items), so the credential is nowhere near pacing. As running jobs spend
// the budget, Room falls below it and the ramp applies again; once a
// request would wait, Pace stops every start.
const rampRoom = 100

// settle is how long a lane's credential must have had budget at every
// look (no request would have waited) before a lane already running a job
// starts another: a credential whose running jobs keep its budget busy gets
// no more slots, so they stay free for other credentials.
const settle = time.Second

// yieldAfter is how long a backfill lane below its fair share of the
// backfill slots waits with a job ready before a lane above its share
// hands one job back for it (and the least time between two such).
const yieldAfter = time.Second

// liveWait is how long a live job ready to start waits for a slot before a
// backfill job yields one to it.
const liveWait = 250 * time.Millisecond

// errYield is the cause of a job's context cancelled so that its slot goes
// to another lane's backfill; process hands such a job back at once,
// checkpointed and not counted as an attempt.
var errYield = errors.New("slot yielded to a live job or another account's backfill")

// recheck is how often the scheduler looks at the credentials of running
// lanes (with Pace) and at the backfill slots' shares.
const recheck = 50 * time.Millisecond

// lane is one lane as the runner holds it: its consumer, a fetcher
// goroutine that keeps one message (the head) ready and one behind it, and the
// scheduler's counts.
type lane struct {
	Lane

	mu        sync.Mutex
	cons      jetstream.Consumer
	head      jetstream.Msg // fetched, not yet started; nil when none
	headSince time.Time     // when head was fetched

	taken chan struct{} // cap 1: the scheduler took head

	// Owned by the scheduler loop.
	running   int
	lastStart time.Time
	busySince time.Time // start of its current spell of work (no idle gap over settle)
	idleSince time.Time // when running last went to 0
	paced     time.Time // last time its credential had no budget
	runs      map[*run]struct{}
}

// run is one job running in a slot.
type run struct {
	l       *lane
	cancel  context.CancelCauseFunc
	started time.Time
	yielded bool
}

func (l *lane) waitingSince() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headSince, l.head != nil
}

func (l *lane) consumer() jetstream.Consumer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cons
}

func (l *lane) hasHead() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head != nil
}

// scheduler owns the lanes and the slots of one Run.
type scheduler struct {
	r         *Runner
	ctx       context.Context // Run's: fetchers and the intake stop with it
	jobCtx    context.Context // jobs run on it
	intakeCfg jetstream.ConsumerConfig
	wg        sync.WaitGroup

	mu    sync.Mutex
	lanes map[Lane]*lane
	live  []*lane // sorted by API, account
	back  []*lane

	notify chan struct{}      // cap 1: a head arrived or a lane was added
	direct chan jetstream.Msg // intake messages to run as they are (see overflow)
	offers chan offer         // intake messages that may start at once (see offer)
	done   chan *run          // a job ended

	// Owned by the loop.
	n, liveSlots   int
	running        int
	backRunning    int // backfill jobs among running
	perAPI         map[string]int
	rrLive, rrBack int
	yielding       int       // yielded jobs not yet ended
	lastYield      time.Time // when a job was last asked to yield
}

func newScheduler(r *Runner, ctx, jobCtx context.Context) *scheduler {
	return &scheduler{
		r: r, ctx: ctx, jobCtx: jobCtx, intakeCfg: r.cons.CachedInfo().Config,
		lanes: map[Lane]*lane{}, notify: make(chan struct{}, 1), direct: make(chan jetstream.Msg), offers: make(chan offer),
		done: make(chan *run, r.cfg.Concurrency),
		n:    r.cfg.Concurrency, liveSlots: r.cfg.LiveSlots, perAPI: map[string]int{},
	}
}

func (s *scheduler) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// lane returns the runner's lane l, creating its consumer (idempotently)
// and starting its fetcher the first time.
func (s *scheduler) lane(ctx context.Context, l Lane) (*lane, error) {
	s.mu.Lock()
	ln, ok := s.lanes[l]
	s.mu.Unlock()
	if ok {
		return ln, nil
	}
	cctx, cancel := context.WithTimeout(ctx, natsTimeout)
	cons, err := ensureLane(cctx, s.r.js, l, s.intakeCfg)
	cancel()
	if err != nil {
		return nil, err
	}
	if s.r.wrapLane != nil {
		cons = s.r.wrapLane(cons)
	}
	s.mu.Lock()
	if ln, ok := s.lanes[l]; ok {
		s.mu.Unlock()
		return ln, nil
	}
	ln = &lane{Lane: l, cons: cons, taken: make(chan struct{}, 1), runs: map[*run]struct{}{}}
	s.lanes[l] = ln
	list := &s.live
	if l.Backfill {
		list = &s.back
	}
	*list = append(*list, ln)
	slices.SortFunc(*list, func(a, b *lane) int {
		return cmp.Or(cmp.Compare(a.API, b.API), cmp.Compare(a.Account, b.Account))
	})
	s.mu.Unlock()
	s.r.log.Debug("lane ready", "lane", l.String())
	// Every caller runs inside s.wg (or before loop starts), so this Go
	// never races Wait.
	s.wg.Go(func() { s.fetch(s.ctx, ln) })
	return ln, nil
}

// recreate makes lane l's consumer again (deleted by hand, or lost with a
// server's store) and swaps it in.
func (s *scheduler) recreate(ctx context.Context, l *lane) error {
	cctx, cancel := context.WithTimeout(ctx, natsTimeout)
	defer cancel()
	cons, err := ensureLane(cctx, s.r.js, l.Lane, s.intakeCfg)
	if err != nil {
		return err
	}
	if s.r.wrapLane != nil {
		cons = s.r.wrapLane(cons)
	}
	l.mu.Lock()
	l.cons = cons
	l.mu.Unlock()
	return nil
}

// fetch keeps one message of lane l ready for the scheduler until ctx is
// done, and one more behind it: while the head waits to be taken, the next
// message is fetched (without waiting if the lane has none), so a slot
// that frees finds the lane's next job at once instead of after a round
// trip. Fetched messages waiting for a slot get heartbeats, so they are not
// redelivered meanwhile; on shutdown they are handed back at once.
func (s *scheduler) fetch(ctx context.Context, l *lane) {
	delay := 100 * time.Millisecond
	var next jetstream.Msg
	for ctx.Err() == nil {
		msg := next
		next = nil
		var err error
		if msg == nil {
			// A long poll: an idle lane costs one pull request per 30 s.
			msg, err = s.fetchOne(ctx, l, false)
		}
		if msg != nil {
			next = s.hold(ctx, l, s.precheck(ctx, msg))
			delay = 100 * time.Millisecond
			continue
		}
		if err == nil || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			continue
		}
		s.r.log.Warn("fetching from lane failed; recreating its consumer", "lane", l.String(), "err", err, "retry_in", delay)
		if sleep(ctx, delay) != nil {
			return
		}
		delay = min(delay*2, 5*time.Second)
		if err := s.recreate(ctx, l); err != nil && ctx.Err() == nil {
			s.r.log.Warn("cannot recreate lane consumer yet", "lane", l.String(), "err", err)
		}
	}
}

// fetchOne fetches one message of lane l: with a long poll of 30 s, or,
// with now, only one the lane has ready (nil when it has none).
func (s *scheduler) fetchOne(ctx context.Context, l *lane, now bool) (jetstream.Msg, error) {
	var batch jetstream.MessageBatch
	var err error
	if now {
		batch, err = l.consumer().FetchNoWait(1)
	} else {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		batch, err = l.consumer().Fetch(1, jetstream.FetchContext(fctx))
	}
	if err != nil {
		return nil, err
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	return msg, batch.Error()
}

// hold offers msg as l's head until the scheduler takes it or ctx is done,
// fetching the message after it meanwhile; it returns that one (nil when
// the lane had none, or on shutdown).
func (s *scheduler) hold(ctx context.Context, l *lane, msg jetstream.Msg) (next jetstream.Msg) {
	l.mu.Lock()
	l.head, l.headSince = msg, time.Now()
	l.mu.Unlock()
	s.wake()
	if m, err := s.fetchOne(ctx, l, true); err == nil && m != nil {
		next = m
	}
	hb := time.NewTicker(s.r.cfg.AckWait / 3)
	defer hb.Stop()
	for {
		select {
		case <-l.taken:
			return next
		case <-hb.C:
			l.mu.Lock()
			mine := l.head == msg
			l.mu.Unlock()
			if mine {
				_ = msg.InProgress()
			}
			if next != nil {
				_ = next.InProgress()
			}
		case <-ctx.Done():
			l.mu.Lock()
			mine := l.head == msg
			if mine {
				l.head = nil
			}
			l.mu.Unlock()
			if mine {
				_ = msg.Nak() // not started: another replica may take it now
			}
			if next != nil {
				_ = next.Nak()
			}
			return nil
		}
	}
}

// loop fills free slots until ctx is done. Every recheck it looks at the
// credentials (with Pace), so a lane's last paced time is known even while
// the slots are full, and rebalances the backfill slots.
func (s *scheduler) loop(ctx context.Context) {
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	for ctx.Err() == nil {
		s.fill()
		select {
		case <-ctx.Done():
		case <-s.notify:
		case r := <-s.done:
			s.ended(r)
		case o := <-s.offers:
			o.taken <- s.take(o.l, o.msg)
		case <-tick.C:
			now := time.Now()
			s.observe(now)
			s.rebalance(now)
		}
	}
}

// observe records, for every lane running a job, whether its credential
// has budget now.
func (s *scheduler) observe(now time.Time) {
	if s.r.cfg.Pace == nil {
		return
	}
	s.mu.Lock()
	lanes := append(slices.Clone(s.live), s.back...)
	s.mu.Unlock()
	for _, l := range lanes {
		if l.running > 0 && s.r.cfg.Pace(l.Credential) > 0 {
			l.paced = now
		}
	}
}

func (s *scheduler) ended(r *run) {
	if r == nil { // a direct run
		s.running--
		return
	}
	l := r.l
	delete(l.runs, r)
	if r.yielded {
		s.yielding--
	}
	s.running--
	if l.Backfill {
		s.backRunning--
	}
	s.perAPI[l.API]--
	l.running--
	if l.running == 0 {
		l.idleSince = time.Now()
	}
	if m := s.r.m; m != nil {
		m.LaneInFlight.WithLabelValues(l.API, l.Account, l.Priority()).Dec()
	}
}

// fill starts jobs while there are free slots and lanes allowed to use
// them: live lanes first, then backfill lanes, each round robin.
func (s *scheduler) fill() {
	for s.running < s.n {
		// Take finished jobs' slots back first, so caps see them.
		select {
		case r := <-s.done:
			s.ended(r)
			continue
		default:
		}
		select {
		case msg := <-s.direct:
			s.startDirect(msg)
			continue
		default:
		}
		l := s.pick()
		if l == nil {
			return
		}
		l.mu.Lock()
		msg := l.head
		l.head = nil
		l.mu.Unlock()
		if msg == nil {
			continue // handed back by a shutdown meanwhile
		}
		select {
		case l.taken <- struct{}{}:
		default:
		}
		s.start(l, msg)
	}
}

func (s *scheduler) pick() *lane {
	s.mu.Lock()
	live, back := slices.Clone(s.live), slices.Clone(s.back)
	s.mu.Unlock()
	now := time.Now()
	if l, i := s.first(live, s.rrLive, now); l != nil {
		s.rrLive = i + 1
		return l
	}
	if s.backRunning >= s.n-s.liveSlots {
		return nil // the rest is kept for live jobs
	}
	if l, i := s.first(back, s.rrBack, now); l != nil {
		s.rrBack = i + 1
		return l
	}
	return nil
}

// first returns, of the lanes that may start their head now, the one
// running the fewest jobs (so lanes share the slots evenly), the first
// from index from on (wrapping) among equals; and its index.
func (s *scheduler) first(lanes []*lane, from int, now time.Time) (*lane, int) {
	var best *lane
	bi := 0
	for k := range lanes {
		i := (from + k) % len(lanes)
		if l := lanes[i]; (best == nil || l.running < best.running) && s.may(l, now) {
			best, bi = l, i
		}
	}
	return best, bi
}

// rebalance asks one backfill job to yield its slot (at most one at a time
// and one per yieldAfter):
//   - when every slot is taken and a live lane has had a job ready for
//     liveWait (so a live job of an idle API does not wait for a long
//     backfill job of another to end);
//   - when the backfill slots are full, a backfill lane below its fair
//     share (the backfill slots divided by the backfill lanes with work) has
//     had a job ready for yieldAfter, and another lane runs more than its
//     share (so a second account's backfill starts within seconds even when
//     the first one's jobs are long).
//
// The job is taken from the backfill lane running the most, newest first;
// it is handed back checkpointed (not an attempt) and resumes when its
// lane's turn comes again.
func (s *scheduler) rebalance(now time.Time) {
	slots := s.n - s.liveSlots
	if s.backRunning == 0 || s.yielding > 0 || now.Sub(s.lastYield) < yieldAfter {
		return
	}
	s.mu.Lock()
	live, back := slices.Clone(s.live), slices.Clone(s.back)
	s.mu.Unlock()
	ready := func(l *lane, wait time.Duration) bool {
		since, ok := l.waitingSince()
		return ok && now.Sub(since) >= wait && (s.r.cfg.Pace == nil || s.r.cfg.Pace(l.Credential) <= s.r.cfg.Hold)
	}
	var starved *lane
	share := 0
	if s.running >= s.n {
		for _, l := range live {
			if ready(l, liveWait) && s.perAPI[l.API] < s.apiLimit(l.API) {
				starved = l
				break
			}
		}
	}
	if starved == nil && s.backRunning >= slots {
		active := 0
		for _, l := range back {
			if l.running > 0 || l.hasHead() {
				active++
			}
		}
		share = max(slots/max(active, 1), 1)
		for _, l := range back {
			if l.running < share && ready(l, yieldAfter) {
				starved = l
				break
			}
		}
	}
	if starved == nil {
		return
	}
	var rich *lane
	for _, l := range back {
		if l != starved && l.running > share && (rich == nil || l.running > rich.running) {
			rich = l
		}
	}
	if rich == nil {
		return
	}
	var newest *run
	for r := range rich.runs {
		if !r.yielded && (newest == nil || r.started.After(newest.started)) {
			newest = r
		}
	}
	if newest == nil {
		return
	}
	s.r.log.Info("backfill job yields its slot", "from", rich.String(), "to", starved.String())
	newest.yielded = true
	s.yielding++
	s.lastYield = now
	newest.cancel(errYield)
}

func (s *scheduler) apiLimit(api string) int {
	if c := s.r.cfg.APIConcurrency[api]; c > 0 {
		return min(c, s.n)
	}
	return s.n
}

// may reports whether l may start its head now.
func (s *scheduler) may(l *lane, now time.Time) bool {
	return l.hasHead() && s.allowed(l, now)
}

// allowed reports whether l's credential and API may start a job of l now:
// the API's cap, the credential's pacing, and the ramp.
func (s *scheduler) allowed(l *lane, now time.Time) bool {
	if s.perAPI[l.API] >= s.apiLimit(l.API) {
		return false
	}
	if s.r.cfg.Pace == nil {
		return true
	}
	d := s.r.cfg.Pace(l.Credential)
	if d > 0 {
		l.paced = now
	}
	if d > s.r.cfg.Hold {
		return false
	}
	if l.running > 0 {
		if d > 0 || now.Sub(l.paced) < settle {
			return false
		}
		if now.Sub(l.busySince) < settle && now.Sub(l.lastStart) < ramp && !s.roomy(l) {
			return false
		}
	}
	return true
}

// roomy reports whether l's credential has room for rampRoom requests for
// each job l runs and one more.
func (s *scheduler) roomy(l *lane) bool {
	return s.r.cfg.Room != nil && s.r.cfg.Room(l.Credential) >= rampRoom*(l.running+1)
}

func (s *scheduler) start(l *lane, msg jetstream.Msg) {
	s.running++
	if l.Backfill {
		s.backRunning++
	}
	s.perAPI[l.API]++
	if now := time.Now(); l.running == 0 && (l.busySince.IsZero() || now.Sub(l.idleSince) > settle) {
		// A lane whose jobs follow one another without a pause stays in
		// one spell of work: short jobs must not restart its ramp.
		l.busySince = now
	}
	l.running++
	l.lastStart = time.Now()
	m := asIntake(msg)
	if s.r.m != nil {
		s.r.m.LaneInFlight.WithLabelValues(l.API, l.Account, l.Priority()).Inc()
		if meta, err := m.Metadata(); err == nil && meta.NumDelivered == 1 {
			s.r.m.JobStartDelay.WithLabelValues(l.API, l.Priority()).Observe(max(time.Since(meta.Timestamp), 0).Seconds())
		}
	}
	ctx, cancel := context.WithCancelCause(s.jobCtx)
	if l.Backfill {
		ctx = apis.WithBackfill(ctx) // limiters serve live requests first
	}
	r := &run{l: l, cancel: cancel, started: l.lastStart}
	l.runs[r] = struct{}{}
	s.wg.Go(func() {
		var once sync.Once
		free := func() { once.Do(func() { s.done <- r }) }
		defer free()
		defer cancel(nil)
		s.r.process(ctx, m, free)
	})
}

// startDirect runs an intake message in a slot as it is (live: it holds no
// backfill slot).
func (s *scheduler) startDirect(msg jetstream.Msg) {
	s.running++
	s.wg.Go(func() {
		var once sync.Once
		free := func() { once.Do(func() { s.done <- nil }) }
		defer free()
		s.r.process(s.jobCtx, msg, free)
	})
}
