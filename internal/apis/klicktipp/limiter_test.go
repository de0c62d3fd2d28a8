package klicktipp_test

import (
	"context"
	"net/http"
	"sync/atomic"

	"crmsync/internal/apis"
)

// countingLimiter is a function-field fake at our own seam: it counts Wait
// and Observe calls and can refuse.
type countingLimiter struct {
	waits, observed atomic.Int32
	deny            atomic.Bool
}

func (l *countingLimiter) Wait(context.Context) error {
	if l.deny.Load() {
		return &apis.Error{API: "klicktipp", Op: "wait", Class: apis.ErrRateLimited, Message: "local limit"}
	}
	l.waits.Add(1)
	return nil
}

func (l *countingLimiter) Observe(int, http.Header) { l.observed.Add(1) }

var _ apis.Limiter = (*countingLimiter)(nil)
