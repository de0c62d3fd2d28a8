package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"crmsync/internal/apis"
	"crmsync/internal/metrics"
)

// Attempt is one run of a job, handed to its Handler: which items are done
// (from the checkpoint of earlier attempts), where to record outcomes, and
// the runner's policy for each API call. It is safe for concurrent use.
type Attempt struct {
	Log *slog.Logger

	job      *Job
	hold     time.Duration
	mu       sync.Mutex
	items    map[int]ItemResult
	recorded int // items recorded by this attempt
	dirty    bool
	m        *metrics.Metrics // counts each item as it finishes (nil: not counted)
}

func newAttempt(job *Job, done map[int]ItemResult, hold time.Duration, log *slog.Logger) *Attempt {
	items := make(map[int]ItemResult, job.Items())
	for i, r := range done {
		if i >= 0 && i < job.Items() {
			items[i] = r.bounded() // a checkpoint from an older version may hold more
		}
	}
	return &Attempt{Log: log, job: job, hold: hold, items: items}
}

// Done reports whether item i already has an outcome.
func (a *Attempt) Done(i int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.items[i]
	return ok
}

// Pending returns the indexes of the items without an outcome, in order.
func (a *Attempt) Pending() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for i := 0; i < a.job.Items(); i++ {
		if _, ok := a.items[i]; !ok {
			out = append(out, i)
		}
	}
	return out
}

// Succeed records that item i succeeded; r.Email and r.OK are filled in.
func (a *Attempt) Succeed(i int, r ItemResult) {
	r.Email, r.OK, r.Error = a.job.ItemEmail(i), true, ""
	a.record(i, r)
}

// Fail records that item i failed for good with err (an API validation
// answer, a malformed email); the job goes on.
func (a *Attempt) Fail(i int, err error) {
	a.record(i, ItemResult{Email: a.job.ItemEmail(i), Error: err.Error()})
}

// Record records a complete outcome for item i (ClickyID's validation).
func (a *Attempt) Record(i int, r ItemResult) {
	r.Email = a.job.ItemEmail(i)
	a.record(i, r)
}

// record keeps r, its strings clipped (see ItemResult.bounded).
func (a *Attempt) record(i int, r ItemResult) {
	r = r.bounded()
	a.mu.Lock()
	if _, again := a.items[i]; !again {
		a.m.ItemFinished(string(a.job.Kind), r.OK)
	}
	a.items[i] = r
	a.recorded++
	a.dirty = true
	a.mu.Unlock()
}

// progressed reports whether this attempt recorded any item.
func (a *Attempt) progressed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recorded > 0
}

// snapshot copies the outcomes so far and clears the dirty flag.
func (a *Attempt) snapshot() (map[int]ItemResult, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[int]ItemResult, len(a.items))
	for i, r := range a.items {
		out[i] = r
	}
	dirty := a.dirty
	a.dirty = false
	return out, dirty
}

// results returns the item outcomes in order; items without one (none when
// the handler finished) are reported as not processed.
func (a *Attempt) results(missing string) []ItemResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ItemResult, a.job.Items())
	for i := range out {
		r, ok := a.items[i]
		if !ok {
			r = ItemResult{Email: a.job.ItemEmail(i), Error: missing}.bounded()
		}
		out[i] = r
	}
	return out
}

// Inline retry policy of Call.
const (
	callRetries   = 3
	callRetryBase = 100 * time.Millisecond
)

// Call runs one API request under the runner's policy:
//   - a transient failure (network, timeout, 5xx, bad body) is retried up to
//     3 times after 100 ms, 400 ms, 1.6 s (with jitter) before it is returned;
//   - a rate limit whose wait is at most the hold time (WORKER_RATE_LIMIT_HOLD)
//     is waited out and retried, never counted as a failure; a longer one, or
//     a run of short ones adding up to more than 3× the hold, returns a
//     RetryAfter error so the runner hands the job back until the reset;
//   - any other error is returned as it is for the handler to sort
//     (see ItemFailure).
//
// It returns ctx's error when ctx is done.
func (a *Attempt) Call(ctx context.Context, fn func(context.Context) error) error {
	var waited time.Duration
	for tries := 0; ; {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, apis.ErrRateLimited):
			d, _ := apis.RetryAfter(err)
			if d > a.hold || waited+d > 3*a.hold {
				return RetryAfter(max(d, time.Second), err)
			}
			// The limiter has seen the 429 and blocks the credential; if
			// the API gave no hint, pause a little before asking it again.
			d = max(d, 250*time.Millisecond)
			waited += d
			if err := sleep(ctx, d); err != nil {
				return err
			}
		case errors.Is(err, apis.ErrTransient) && tries < callRetries:
			d := callRetryBase << (2 * tries)
			tries++
			if err := sleep(ctx, d/2+rand.N(d/2+1)); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// ItemFailure reports whether err fails only the item it was about (a 4xx
// validation answer: KlickTipp's 406, Klipy's 422, ...), so the job goes on.
// Other errors end the attempt: see JobError.
func ItemFailure(err error) bool {
	return errors.Is(err, apis.ErrValidation)
}

// JobError turns an error that ends an attempt into its outcome: bad
// credentials, a missing permission, or a 404 from an endpoint that always
// exists (a wrong base URL) are permanent: dead letter, logged loudly by the
// runner, replayable once the setting is fixed. Everything else is returned
// as it is (transient retry, rate-limit hand-back, shutdown).
func JobError(err error) error {
	switch {
	case errors.Is(err, apis.ErrNotFound):
		return Permanent(fmt.Errorf("%w (is the API's base URL right?)", err))
	case errors.Is(err, apis.ErrUnauthorized), errors.Is(err, apis.ErrForbidden):
		return Permanent(err)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
