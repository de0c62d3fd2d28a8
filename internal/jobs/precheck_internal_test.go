package jobs

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/broker/brokertest"
)

// gets counts the Get calls on a key-value bucket.
type gets struct {
	jetstream.KeyValue
	n atomic.Int64
}

func (g *gets) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	g.n.Add(1)
	return g.KeyValue.Get(ctx, key)
}

// A job whose lane fetcher looked it up moments ago costs its slot no
// round trip to the finished bucket; a stale lookup, or one of another id,
// is asked again.
func TestFetchersLookupSavesTheSlotsRoundTrip(t *testing.T) {
	t.Parallel()
	srv := brokertest.Start(t)
	_, js := srv.Connect(t)
	ctx := context.Background()
	kv, err := EnsureFinished(ctx, js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := json.Marshal(Finish{Status: StatusSucceeded, Finished: time.Now()})
	if _, err := kv.Put(ctx, FinishedKey("done-1"), done); err != nil {
		t.Fatal(err)
	}
	g := &gets{KeyValue: kv}
	r := &Runner{cfg: Config{Finished: g}}
	s := &scheduler{r: r}
	defer s.wg.Wait()

	msg := func(id string) jetstream.Msg {
		b := &fakeMsg{hdr: nats.Header{headerJobID: {id}}}
		return s.precheck(ctx, b)
	}
	// The fetcher's lookups: one Get each, done in the background.
	fresh, finished := msg("new-1"), msg("done-1")
	for _, m := range []jetstream.Msg{fresh, finished} {
		select {
		case <-m.(*prechecked).done:
		case <-time.After(10 * time.Second):
			t.Fatal("a precheck did not finish")
		}
	}
	if n := g.n.Load(); n != 2 {
		t.Fatalf("%d Gets for two prechecks", n)
	}
	stale := &lookup{id: "done-1", at: time.Now().Add(-lookupFresh), done: make(chan struct{}), ok: true}
	close(stale.done)
	for _, c := range []struct {
		m        jetstream.Msg
		id       string
		finished bool
		gets     int64
	}{
		{&laneMsg{looked: fresh.(*prechecked).lookup}, "new-1", false, 0},
		{&laneMsg{looked: finished.(*prechecked).lookup}, "done-1", true, 0},
		{&laneMsg{looked: fresh.(*prechecked).lookup}, "other", false, 1}, // not this job's lookup
		{&laneMsg{looked: stale}, "done-1", true, 1},                      // stale: asked again, and finished
		{&fakeMsg{}, "done-1", true, 1},                                   // no lookup at all
	} {
		before := g.n.Load()
		f, err := r.lookUp(ctx, c.m, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if (f != nil) != c.finished || g.n.Load()-before != c.gets {
			t.Errorf("%s: finished %v after %d Gets, want %v after %d", c.id, f != nil, g.n.Load()-before, c.finished, c.gets)
		}
	}
}

// fakeMsg is a jetstream.Msg with headers only.
type fakeMsg struct {
	jetstream.Msg
	hdr nats.Header
}

func (m *fakeMsg) Headers() nats.Header { return m.hdr }
