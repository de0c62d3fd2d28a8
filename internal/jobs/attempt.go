package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	items    []ItemResult // by item index; valid where done is set
	done     []bool
	recorded int // items recorded by this attempt
	dirty    bool
	ok, bad  prometheus.Counter // items succeeded and failed (nil: not counted)
}

func newAttempt(job *Job, done map[int]ItemResult, hold time.Duration, log *slog.Logger) *Attempt {
	n := job.Items()
	a := &Attempt{Log: log, job: job, hold: hold, items: make([]ItemResult, n), done: make([]bool, n)}
	for i, r := range done {
		if i >= 0 && i < n {
			a.items[i], a.done[i] = r.bounded(), true // a checkpoint from an older version may hold more
		}
	}
	return a
}

// count makes the attempt count each item as it finishes in m (nil: not at all).
func (a *Attempt) count(m *metrics.Metrics) {
	if m != nil {
		a.ok, a.bad = m.ItemCounters(string(a.job.Kind))
	}
}

// Done reports whether item i already has an outcome.
func (a *Attempt) Done(i int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return i >= 0 && i < len(a.done) && a.done[i]
}

// Pending returns the indexes of the items without an outcome, in order.
func (a *Attempt) Pending() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]int, 0, len(a.done))
	for i, d := range a.done {
		if !d {
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
	again := a.done[i]
	a.items[i], a.done[i] = r, true
	a.recorded++
	a.dirty = true
	a.mu.Unlock()
	if c := a.ok; !again && c != nil {
		if !r.OK {
			c = a.bad
		}
		c.Inc()
	}
}

// progressed reports whether this attempt recorded any item.
func (a *Attempt) progressed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.recorded > 0
}

// snapshot copies the outcomes so far, by item index (a checkpoint's
// items), and clears the dirty flag.
func (a *Attempt) snapshot() (map[int]ItemResult, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[int]ItemResult)
	for i, d := range a.done {
		if d {
			out[i] = a.items[i]
		}
	}
	dirty := a.dirty
	a.dirty = false
	return out, dirty
}

// results returns every item's outcome in order; an item without one gets
// missing as its error.
func (a *Attempt) results(missing string) []ItemResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]ItemResult, len(a.items))
	for i := range out {
		if a.done[i] {
			out[i] = a.items[i]
		} else {
			out[i] = ItemResult{Email: a.job.ItemEmail(i), Error: missing}.bounded()
		}
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
