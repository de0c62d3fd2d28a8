package limiter

import "time"

// Clock is the time source of a Limiter. Now tells the time; Until returns a
// channel that receives once the clock reads t or later (at once when t is
// not in the future). The timer is absolute, so a clock that moves between
// a caller's Now and its Until cannot make the wait overshoot. The system
// clock is the default; tests pass a fake (limitertest.Clock) whose Advance
// fires the channels, so they never sleep.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	Until(t time.Time) <-chan time.Time
}

// systemClock is the real clock. Since Go 1.23 an unreferenced time.After
// timer is collected even if it never fired, so Until leaks nothing.
type systemClock struct{}

func (systemClock) Now() time.Time                     { return time.Now() }
func (systemClock) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }
