package limiter

import (
	"errors"
	"fmt"
	"time"

	"crmsync/internal/apis"
)

// Causes of a wait, as reported in BlockedError.Cause. The first three are
// blocks the API imposed and are also the cause label of the
// crmsync_limiter_blocks_total metric.
const (
	Cause429           = "429"            // the API answered 429 Too Many Requests
	CauseRetryAfter    = "retry_after"    // a non-429 answer carried Retry-After
	CauseRemainingZero = "remaining_zero" // X-RateLimit-Remaining: 0
	CausePacing        = "pacing"         // spreading the rest of the API's window (X-RateLimit-Remaining/-Reset)
	CauseRate          = "rate"           // the configured rate and burst
	CauseLive          = "live"           // a backfill request behind live ones of the credential
)

// ErrClosed is returned by Registry.For after the Registry was closed.
var ErrClosed = errors.New("limiter: closed")

// BlockedError is returned by Limiter.Wait when a request could not be sent
// within MaxWait: the credential is blocked by the API or its budget is spent
// for longer than the caller should hold on. It matches apis.ErrRateLimited
// with errors.Is, and apis.RetryAfter reads its wait, so the job runner hands
// the job back with that delay instead of counting a failed attempt.
type BlockedError struct {
	API   string        // "klicktipp", "klipy" or "clickyid"
	Until time.Time     // earliest time a request may be sent (on the limiter's clock)
	Wait  time.Duration // Until minus the time the error was made
	Cause string        // one of the Cause* constants
}

// Error returns e.g. "clickyid: rate limited (429) for 42s".
func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s: rate limited (%s) for %s", e.API, e.Cause, e.Wait.Round(time.Millisecond))
}

// Is reports whether target is apis.ErrRateLimited.
func (e *BlockedError) Is(target error) bool { return target == apis.ErrRateLimited }

// RetryAfter returns how long to wait before trying again (at least 1ms, so
// that apis.RetryAfter always reports it).
func (e *BlockedError) RetryAfter() time.Duration { return max(e.Wait, time.Millisecond) }
