package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"crmsync/internal/apis"
	"crmsync/internal/apis/clickyid"
	"crmsync/internal/apis/clickyid/clickyidtest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/apis/klipy"
	"crmsync/internal/apis/klipy/klipytest"
	"crmsync/internal/broker/brokertest"
	"crmsync/internal/jobs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bundle is a runner on a real embedded JetStream server with the three
// fake APIs, for one test.
type bundle struct {
	srv *brokertest.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	kt  *klicktipptest.Server
	kl  *klipytest.Server
	ci  *clickyidtest.Server

	cons    jetstream.Consumer
	cfg     jobs.Config
	partner bool
	noKV    bool
	cancel  context.CancelFunc

	noFinished bool
	done       chan error

	// wrapLanes, when set, wraps the runner's lane consumers.
	wrapLanes func(jetstream.Consumer) jetstream.Consumer
	// viaLanes makes every job run from its lane consumer, none straight
	// from the intake consumer cons (MoveEveryJob).
	viaLanes bool
}

type opts struct {
	partner bool
	noKV    bool // run without a checkpoint bucket
	cfg     jobs.Config

	noFinished bool // run without the bucket of finished jobs
	broker     []brokertest.Option
}

func setup(t testing.TB, o opts) *bundle {
	t.Helper()
	b := &bundle{srv: brokertest.Start(t, o.broker...), partner: o.partner, noKV: o.noKV, noFinished: o.noFinished}
	b.nc, b.js = b.srv.Connect(t)
	b.kt = klicktipptest.NewServer()
	b.kl = klipytest.NewServer()
	b.ci = clickyidtest.NewServer()
	t.Cleanup(func() { b.kt.Close(); b.kl.Close(); b.ci.Close() })
	b.cfg = o.cfg
	if b.cfg.Concurrency == 0 {
		b.cfg.Concurrency = 4
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&b.cfg.AckWait, 5*time.Second)
	def(&b.cfg.RetryBase, 20*time.Millisecond)
	def(&b.cfg.RetryMax, 200*time.Millisecond)
	def(&b.cfg.Hold, 200*time.Millisecond)
	def(&b.cfg.CheckpointEvery, 50*time.Millisecond)
	def(&b.cfg.ShutdownGrace, 5*time.Second)
	if b.cfg.MaxAttempts == 0 {
		b.cfg.MaxAttempts = 3
	}
	if b.cfg.Logger == nil {
		b.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if b.cons, err = jobs.Setup(context.Background(), b.js, jobs.StreamConfig{AckWait: b.cfg.AckWait}); err != nil {
		t.Fatal(err)
	}
	return b
}

// router builds the three handlers on the fakes.
func (b *bundle) router(t testing.TB) jobs.Router {
	t.Helper()
	hc := apis.NewHTTPClient(2 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	ktc := klicktipp.Config{BaseURL: b.kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc}
	if b.partner {
		ktc.Password, ktc.DeveloperKey, ktc.CustomerKey = "", klicktipptest.DeveloperKey, klicktipptest.CustomerKey
	}
	kt, err := klicktipp.New(ktc)
	if err != nil {
		t.Fatal(err)
	}
	kl, err := klipy.New(klipy.Config{BaseURL: b.kl.URL, APIKey: klipytest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ci, err := clickyid.New(clickyid.Config{BaseURL: b.ci.URL, APIKey: clickyidtest.DefaultAPIKey, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	handlers := map[string]jobs.Handler{
		"klicktipp": &jobs.KlickTippUpsert{Client: kt, CreateTags: true},
		"klipy":     &jobs.KlipyUpsert{Client: kl},
		"clickyid":  &jobs.ClickyIDValidate{Client: ci},
	}
	return jobs.RouterFunc(func(j *jobs.Job) (jobs.Handler, error) {
		if j.Account != jobs.DefaultAccount {
			return nil, fmt.Errorf("account %q is not configured", j.Account)
		}
		if j.Kind == jobs.KindEmailValidate {
			return handlers["clickyid"], nil
		}
		return handlers[j.Target], nil
	})
}

// start runs a runner until the test ends (or stop is called).
func (b *bundle) start(t testing.TB) {
	t.Helper()
	b.startWith(t, b.router(t))
}

func (b *bundle) startWith(t testing.TB, router jobs.Router) {
	t.Helper()
	ctx := context.Background()
	kv, err := jobs.EnsureCheckpoints(ctx, b.js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.noKV {
		kv = nil
	}
	cfg := b.cfg
	if !b.noFinished {
		if cfg.Finished, err = jobs.EnsureFinished(ctx, b.js, time.Hour, 1); err != nil {
			t.Fatal(err)
		}
	}
	r, err := jobs.NewRunner(b.js, b.cons, kv, router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.wrapLanes != nil {
		jobs.WrapLaneConsumers(r, b.wrapLanes)
	}
	if b.viaLanes {
		jobs.MoveEveryJob(r)
	}
	rctx, cancel := context.WithCancel(ctx)
	b.cancel, b.done = cancel, make(chan error, 1)
	go func() { b.done <- r.Run(rctx) }()
	t.Cleanup(func() { b.stop(t) })
}

// stop cancels the runner and waits for Run to return.
func (b *bundle) stop(t testing.TB) {
	t.Helper()
	if b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
}

// publish sends a job (any JSON-encodable value or raw bytes) to subject.
func (b *bundle) publish(t testing.TB, subject string, job any, msgID string) {
	t.Helper()
	var data []byte
	switch v := job.(type) {
	case []byte:
		data = v
	case string:
		data = []byte(v)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		m.Header.Set("Nats-Msg-Id", msgID)
	}
	if _, err := b.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// collect reads n messages from stream (from the start), failing after timeout.
func (b *bundle) collect(t testing.TB, stream string, n int, timeout time.Duration) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("got %d of %d messages from %s: %v", len(out), n, stream, err)
		}
		out = append(out, m)
	}
	return out
}

func (b *bundle) results(t testing.TB, n int, timeout time.Duration) []jobs.Result {
	t.Helper()
	var out []jobs.Result
	for _, m := range b.collect(t, jobs.ResultsStream, n, timeout) {
		var r jobs.Result
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatalf("result is not JSON: %v", err)
		}
		if m.Headers().Get(jobs.HeaderJobID) != r.ID {
			t.Errorf("result header %s=%q, body id %q", jobs.HeaderJobID, m.Headers().Get(jobs.HeaderJobID), r.ID)
		}
		out = append(out, r)
	}
	return out
}

// count returns how many messages stream holds now.
func (b *bundle) count(t testing.TB, stream string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func contacts(prefix string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, i),
			"fields": map[string]string{"fieldFirstName": fmt.Sprintf("First%d", i)}, "tags": []any{"newsletter"}}
	}
	return out
}

func upsert(id, target string, cs []map[string]any) map[string]any {
	return map[string]any{"id": id, "kind": "contact.upsert", "target": target, "contacts": cs}
}

// follower reads a stream's messages in order across calls.
type follower struct {
	c jetstream.Consumer
}

func (b *bundle) follow(t testing.TB, stream string) *follower {
	t.Helper()
	c, err := b.js.OrderedConsumer(context.Background(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &follower{c: c}
}

// next waits for n more messages, failing after timeout.
func (f *follower) next(t testing.TB, n int, timeout time.Duration) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]jetstream.Msg, 0, n)
	for len(out) < n {
		m, err := f.c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("got %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}
