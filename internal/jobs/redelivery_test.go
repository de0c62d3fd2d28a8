package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// lossyConsumer loses the first ack of every message (as if the ack never
// reached the server), so each message is delivered again after the ack
// wait, after its result was published.
type lossyConsumer struct {
	mu   sync.Mutex
	lost map[uint64]bool // stream sequences whose ack was lost
}

// lossyLane is one lane's consumer, losing acks through the shared
// lossyConsumer. Each (re)bound lane gets its own, so a lane consumer
// re-created by the scan never races a Fetch on another.
type lossyLane struct {
	jetstream.Consumer
	c *lossyConsumer
}

func (l *lossyLane) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	c := l.c
	batch, err := l.Consumer.Fetch(n, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan jetstream.Msg)
	lb := &lossyBatch{MessageBatch: batch, msgs: out}
	go func() {
		defer close(out)
		for m := range batch.Messages() {
			out <- &lossyMsg{Msg: m, c: c}
		}
	}()
	return lb, nil
}

// wrap makes c lose the first ack of each message of cons (one lane, or
// the intake).
func (c *lossyConsumer) wrap(cons jetstream.Consumer) jetstream.Consumer {
	return &lossyLane{Consumer: cons, c: c}
}

func (c *lossyConsumer) losses() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lost)
}

type lossyBatch struct {
	jetstream.MessageBatch
	msgs chan jetstream.Msg
}

func (b *lossyBatch) Messages() <-chan jetstream.Msg { return b.msgs }

type lossyMsg struct {
	jetstream.Msg
	c *lossyConsumer
}

var errAckLost = errors.New("ack lost (test)")

func (m *lossyMsg) lose() bool {
	meta, err := m.Metadata()
	if err != nil {
		return false
	}
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	if m.c.lost[meta.Sequence.Stream] {
		return false
	}
	m.c.lost[meta.Sequence.Stream] = true
	return true
}

func (m *lossyMsg) Ack() error {
	if m.lose() {
		return errAckLost
	}
	return m.Msg.Ack()
}

func (m *lossyMsg) DoubleAck(ctx context.Context) error {
	if m.lose() {
		return errAckLost
	}
	return m.Msg.DoubleAck(ctx)
}

// runLosingFirstAck runs job id (2 Klipy contacts) on a fresh bundle whose
// runner loses its first ack, of its lane message when fromLane, else of
// its intake message (the job starts straight from the intake onto the
// idle pool), until the redelivery has been acked; then it stops the
// runner.
func runLosingFirstAck(t *testing.T, o opts, fromLane bool, id string) *bundle {
	t.Helper()
	o.cfg.AckWait = time.Second
	b := setup(t, o)
	lossy := &lossyConsumer{lost: map[uint64]bool{}}
	if fromLane {
		b.viaLanes, b.wrapLanes = true, lossy.wrap
	} else {
		b.cons = lossy.wrap(b.cons)
	}
	b.publish(t, "crmsync.jobs.contact.upsert", upsert(id, "klipy", contacts(id+"-", 2)), id)
	b.start(t)
	awaitCond(t, 15*time.Second, func() bool { return lossy.losses() == 1 && b.count(t, jobs.JobsStream) == 0 })
	b.stop(t)
	return b
}

var routes = []struct {
	name     string
	fromLane bool
}{{"from its lane", true}, {"from the intake", false}}

// A job delivered again after its result was published (its ack lost)
// publishes no second result: the result's Nats-Msg-Id is derived from the
// job ("result:<job id>:<stream seq>"), so the results stream drops the
// repeat. Run without CRMSYNC_FINISHED, which would skip the job before it
// got that far, to test the broker's layer of dedupe on its own.
func TestRedeliveredJobPublishesOneResult(t *testing.T) {
	t.Parallel()
	for _, route := range routes {
		t.Run(route.name, func(t *testing.T) {
			t.Parallel()
			b := runLosingFirstAck(t, opts{noFinished: true}, route.fromLane, "twice")
			if n := b.kl.Count("PUT", "/people"); n != 4 {
				t.Errorf("PUT /people %d times, want 4: the job ran twice (the redelivery the test needs)", n)
			}
			msgs := b.collect(t, jobs.ResultsStream, 1, 5*time.Second)
			if n := b.count(t, jobs.ResultsStream); n != 1 {
				t.Errorf("%d results for one job delivered twice, want 1", n)
			}
			if id, want := msgs[0].Headers().Get(jobs.HeaderMsgID), "result:twice:1"; id != want {
				t.Errorf("result %s = %q, want %q", jobs.HeaderMsgID, id, want)
			}
			if id := msgs[0].Headers().Get(jobs.HeaderJobID); id != "twice" {
				t.Errorf("result %s = %q", jobs.HeaderJobID, id)
			}
		})
	}
}

// With CRMSYNC_FINISHED, the same redelivery is acked without running the
// job again: no API call, no second result.
func TestRedeliveredFinishedJobIsNotRunAgain(t *testing.T) {
	t.Parallel()
	for _, route := range routes {
		t.Run(route.name, func(t *testing.T) {
			t.Parallel()
			b := runLosingFirstAck(t, opts{}, route.fromLane, "once")
			if n := b.kl.Count("PUT", "/people"); n != 2 {
				t.Errorf("PUT /people %d times, want 2: the finished job ran again on its redelivery", n)
			}
			if n := b.count(t, jobs.ResultsStream); n != 1 {
				t.Errorf("%d results, want 1", n)
			}
		})
	}
}
