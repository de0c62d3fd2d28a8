package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// Stats are a backfill's counters, updated while it runs and safe to read
// from any goroutine.
type Stats struct {
	Rows       atomic.Int64 // rows read, good and bad (CSV header not counted)
	Rejected   atomic.Int64 // bad rows
	Items      atomic.Int64 // good rows, put into jobs
	Jobs       atomic.Int64 // jobs built: sent, or not sent as Done
	Published  atomic.Int64 // jobs the stream stored
	Duplicates atomic.Int64 // jobs the stream already had (same Nats-Msg-Id within its duplicate window)
	Done       atomic.Int64 // jobs not sent: they already have a final result (CRMSYNC_FINISHED)
	Retries    atomic.Int64 // publish attempts repeated after an error
}

// PublishError is a job that could not be published: the command exits 3.
type PublishError struct {
	JobID string
	Err   error
}

func (e *PublishError) Error() string {
	return fmt.Sprintf("publishing job %s failed: %v", e.JobID, e.Err)
}
func (e *PublishError) Unwrap() error { return e.Err }

// InputError is an input that cannot be read any further (a broken gzip
// stream, an I/O error).
type InputError struct{ Err error }

func (e *InputError) Error() string { return "reading input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Options tune Publish. Zero fields take the defaults stated.
type Options struct {
	// Reject is called with each bad row; an error from it stops the run.
	Reject func(*RowError) error
	// Stats receives the counters; may be nil.
	Stats *Stats
	// MaxPending bounds the jobs awaiting their ack; default 1024.
	MaxPending int
	// MaxPendingBytes bounds their bytes; default 8 MiB (more buys no speed
	// on a fast server and costs memory).
	MaxPendingBytes int
	// Attempts is how often one job is published before giving up;
	// default 4 (100 ms, 200 ms, 400 ms apart).
	Attempts int
	// AckTimeout is how long one publish waits for its ack; default 10s.
	AckTimeout time.Duration
	// Priority is every job's Crmsync-Priority header (jobs.PriorityBackfill
	// or jobs.PriorityLive); default jobs.PriorityBackfill.
	Priority string
}

func (o Options) withDefaults() Options {
	if o.Stats == nil {
		o.Stats = &Stats{}
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 1024
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 8 << 20
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Priority == "" {
		o.Priority = jobs.PriorityBackfill
	}
	return o
}

// Check reads every row of r without publishing, for -strict: bad rows go
// to o.Reject and are counted in o.Stats.
func Check(ctx context.Context, r Reader, c *Chunker, o Options) error {
	o = o.withDefaults()
	return scan(ctx, r, c, o, nil)
}

// Publish reads every row of r, packs the good ones into jobs with c and
// publishes each job asynchronously to its kind's subject with Nats-Msg-Id
// set to the job id and Crmsync-Priority to o.Priority, keeping at most
// o.MaxPending jobs (and
// o.MaxPendingBytes) awaiting their acks. A job the worker already finished
// (per jobs.FinishedBucket, looked up a few jobs ahead) is counted as Done
// and not sent. Every ack is checked: a failed publish is retried (same id,
// so it cannot be stored twice) and after o.Attempts the run stops with a
// *PublishError. Bad rows go to o.Reject. A broken input stops the run with
// an *InputError (the jobs built before it are published).
func Publish(ctx context.Context, nc *nats.Conn, kind jobs.Kind, r Reader, c *Chunker, o Options) error {
	o = o.withDefaults()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(o.MaxPending+1), jetstream.WithPublishAsyncTimeout(o.AckTimeout))
	if err != nil {
		return err
	}
	finished, err := js.KeyValue(ctx, jobs.FinishedBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		finished, err = nil, nil // no worker has run here yet: nothing finished
	}
	if err != nil {
		return fmt.Errorf("kv %s: %w", jobs.FinishedBucket, err)
	}
	p := &publisher{js: js, subject: kind.Subject(), o: o, st: o.Stats, finished: finished,
		futs: make(chan inflight, o.MaxPending), released: make(chan int, o.MaxPending)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel
	var wg sync.WaitGroup
	wg.Go(func() { p.collect(ctx) })
	err = scan(ctx, r, c, o, func(j *Job) error { return p.send(ctx, j) })
	if ferr := p.flush(ctx); err == nil {
		err = ferr
	}
	p.lookups.Wait()
	close(p.futs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause // a publish failure stops the scan; report it, not the cancel
	}
	if err != nil {
		return err
	}
	return context.Cause(ctx)
}

// scan is the reading loop shared by Check and Publish (send nil: no jobs).
func scan(ctx context.Context, r Reader, c *Chunker, o Options, send func(*Job) error) error {
	st := o.Stats
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		item, err := r.Next()
		if err != nil { // the RowError is declared here: its address escapes
			if err == io.EOF {
				break
			}
			var re *RowError
			if !errors.As(err, &re) {
				return &InputError{Err: err}
			}
			st.Rows.Add(1)
			if err := reject(o, re); err != nil {
				return err
			}
			continue
		}
		st.Rows.Add(1)
		if why := c.Fits(item.JSON); why != "" {
			if err := reject(o, &RowError{Line: item.Line, Reason: why, Raw: rawOf(item.JSON)}); err != nil {
				return err
			}
			continue
		}
		st.Items.Add(1)
		if send == nil {
			continue
		}
		if j := c.Add(item.JSON); j != nil {
			if err := send(j); err != nil {
				return err
			}
		}
	}
	if send != nil {
		if j := c.Flush(); j != nil {
			return send(j)
		}
	}
	return nil
}

func reject(o Options, re *RowError) error {
	o.Stats.Rejected.Add(1)
	if o.Reject != nil {
		return o.Reject(re)
	}
	return nil
}

type inflight struct {
	fut jetstream.PubAckFuture // nil when PublishAsync itself failed
	msg *nats.Msg
	id  string
}

type publisher struct {
	js       jetstream.JetStream
	subject  string
	o        Options
	st       *Stats
	cancel   context.CancelCauseFunc
	futs     chan inflight
	released chan int
	finished jetstream.KeyValue // nil: no worker has run yet
	lookups  sync.WaitGroup     // lookups in finished
	queue    []lookedUp         // jobs being looked up, in order; owned by the sending goroutine

	inFlight, inBytes int // owned by the sending goroutine
}

// lookahead is how many jobs are looked up in jobs.FinishedBucket at once,
// ahead of publishing, so that the lookups' round trips overlap with
// reading the input.
const lookahead = 8

// lookedUp is a job waiting for its lookup: done says it already finished.
type lookedUp struct {
	j    *Job
	done chan bool
}

// send looks j up in the finished bucket (when there is one) and, once
// lookahead jobs are waiting, publishes or counts the oldest.
func (p *publisher) send(ctx context.Context, j *Job) error {
	if p.finished == nil {
		return p.publish(ctx, j)
	}
	done := make(chan bool, 1)
	p.lookups.Go(func() { done <- p.done(ctx, j.ID) })
	p.queue = append(p.queue, lookedUp{j: j, done: done})
	if len(p.queue) < lookahead {
		return nil
	}
	return p.next(ctx)
}

// next publishes the oldest looked-up job, or counts it as Done.
func (p *publisher) next(ctx context.Context) error {
	q := p.queue[0]
	p.queue = p.queue[1:]
	if <-q.done {
		p.st.Jobs.Add(1)
		p.st.Done.Add(1)
		return nil
	}
	return p.publish(ctx, q.j)
}

// flush publishes the jobs still being looked up, unless the run was
// stopped.
func (p *publisher) flush(ctx context.Context) error {
	for len(p.queue) > 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := p.next(ctx); err != nil {
			return err
		}
	}
	return nil
}

// publish waits for room, then publishes j asynchronously.
func (p *publisher) publish(ctx context.Context, j *Job) error {
	for p.inFlight >= p.o.MaxPending || (p.inFlight > 0 && p.inBytes+len(j.Data) > p.o.MaxPendingBytes) {
		select {
		case n := <-p.released:
			p.inFlight--
			p.inBytes -= n
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	msg := &nats.Msg{Subject: p.subject, Data: j.Data, Header: nats.Header{jobs.HeaderMsgID: []string{j.ID}, jobs.HeaderPriority: []string{p.o.Priority}}}
	fut, err := p.js.PublishMsgAsync(msg)
	if err != nil {
		fut = nil // the collector retries it synchronously
	}
	p.st.Jobs.Add(1)
	p.inFlight++
	p.inBytes += len(j.Data)
	p.futs <- inflight{fut: fut, msg: msg, id: j.ID}
	return nil
}

// done reports whether job id already has a final result. One KV get per
// job; when the bucket cannot be read, the job is sent (the worker checks
// again before it runs it).
func (p *publisher) done(ctx context.Context, id string) bool {
	if p.finished == nil {
		return false
	}
	gctx, cancel := context.WithTimeout(ctx, p.o.AckTimeout)
	defer cancel()
	f, err := jobs.LookUpFinished(gctx, p.finished, id)
	return err == nil && f.Skips(id)
}

// collect checks the acks in order, retrying failed publishes.
func (p *publisher) collect(ctx context.Context) {
	for f := range p.futs {
		var err error
		stored := false // by the first, asynchronous publish: nothing refers to the data any more
		if f.fut == nil {
			err = p.retry(ctx, f)
		} else {
			select {
			case ack := <-f.fut.Ok():
				p.count(ack, false)
				stored = true
			case <-f.fut.Err():
				err = p.retry(ctx, f)
			}
		}
		if err != nil {
			p.cancel(err)
		}
		p.released <- len(f.msg.Data)
		if stored {
			recycle(f.msg.Data)
		}
	}
}

func (p *publisher) retry(ctx context.Context, f inflight) error {
	var last error = errors.New("no ack")
	if f.fut != nil {
		select {
		case e := <-f.fut.Err():
			last = e
		default:
		}
	}
	delay := 100 * time.Millisecond
	for attempt := 2; attempt <= p.o.Attempts; attempt++ {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
		delay *= 2
		p.st.Retries.Add(1)
		actx, cancel := context.WithTimeout(ctx, p.o.AckTimeout)
		ack, err := p.js.PublishMsg(actx, &nats.Msg{Subject: f.msg.Subject, Data: f.msg.Data, Header: f.msg.Header})
		cancel()
		if err == nil {
			p.count(ack, true)
			return nil
		}
		last = err
	}
	return &PublishError{JobID: f.id, Err: fmt.Errorf("%d attempts: %w", p.o.Attempts, last)}
}

// count records an ack. After a retry a duplicate is most likely our own
// first attempt, stored though its ack was lost: counted as published.
func (p *publisher) count(ack *jetstream.PubAck, retried bool) {
	if ack.Duplicate && !retried {
		p.st.Duplicates.Add(1)
		return
	}
	p.st.Published.Add(1)
}

// EnsureStreams creates those of the contract's streams that do not exist
// yet (with cfg), leaving existing ones as the worker configured them.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg jobs.StreamConfig) error {
	for _, sc := range jobs.Streams(cfg) {
		_, err := js.Stream(ctx, sc.Name)
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
		if _, err := js.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("creating stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
