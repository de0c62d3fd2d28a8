package jobs

import (
	"errors"
	"fmt"
	"time"
)

// permanentError marks a failure no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the runner dead-letters the job at once (bad
// credentials, a missing account, a permission the key lacks).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// retryAfterError marks a rate-limit hand-back.
type retryAfterError struct {
	d   time.Duration
	err error
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("rate limited for %s: %v", e.d.Round(time.Millisecond), e.err)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter wraps err so the runner hands the job back to the queue for d
// without counting a failed attempt: a rate limit never dead-letters a job.
func RetryAfter(d time.Duration, err error) error {
	return &retryAfterError{d: d, err: err}
}

// outcome is what the runner does with a message.
type outcome int

const (
	outcomeDone       outcome = iota // publish the result, ack
	outcomeRetry                     // transient: count an attempt, nak with backoff
	outcomeHandBack                  // rate limit or shutdown: nak with delay, not counted
	outcomeDeadLetter                // permanent: dead-letter, publish a failed result, ack
)

// classify sorts a handler's error, in one place.
func classify(err error) (outcome, time.Duration) {
	if err == nil {
		return outcomeDone, 0
	}
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return outcomeHandBack, ra.d
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return outcomeDeadLetter, 0
	}
	return outcomeRetry, 0
}

var errMissingAnswer = errors.New("clickyid: the answer has no result for this email")
