package limiter

import "time"

// Clock is the time source of a Limiter. Now tells the time; After returns a
// channel that receives once d has passed (at once when d <= 0). The system
// clock is the default; tests pass a fake (limitertest.Clock) whose Advance
// fires the channels, so they never sleep.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// systemClock is the real clock. Since Go 1.23 an unreferenced time.After
// timer is collected even if it never fired, so After leaks nothing.
type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
