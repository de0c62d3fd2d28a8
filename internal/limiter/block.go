package limiter

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// backoffMin and backoffMax bound the block after a 429 that says nothing
	// usable about when to come back: 1s, doubling per such 429, up to 1 min,
	// back to 1s after a success.
	backoffMin = time.Second
	backoffMax = time.Minute
	// deltaResetBelow: an X-RateLimit-Reset below this (as Unix seconds,
	// before September 2001) is read as seconds from now, as some APIs send it.
	deltaResetBelow = 1e9
)

// assessLocked reads what one response says: a block (status 429,
// Retry-After, or X-RateLimit-Remaining: 0) and the pacing of the API's
// window (X-RateLimit-Remaining and -Reset). It returns the state to join and
// the block's cause ("" when the response imposed no block). l.mu is held.
//
// Malformed values are ignored with a debug log. Every block is capped at
// MaxBlock. A reset already past (clock skew, or a late answer from the last
// window) does not block on its own; a 429 with no usable hint blocks for the
// exponential backoff.
//
// With Config.Window set, an answer whose X-RateLimit-Window names another
// window speaks of another budget of the same credential (ClickyID's hourly
// budget beside an endpoint class's minute) and is left to that budget's
// limiter: it neither blocks nor paces this one.
func (l *Limiter) assessLocked(status int, h http.Header, now time.Time) (state, string) {
	if l.foreign(h) {
		return state{}, ""
	}
	ra, raOK := l.retryAfter(h, now)
	rem, remOK := l.remaining(h)
	reset, resetOK := l.reset(h, now)
	remZero := remOK && rem == 0
	limit := now.Add(l.maxBlock)

	var d state
	if remOK && rem > 0 && resetOK && reset.After(now) {
		if reset.After(limit) {
			l.log.Debug("limiter: ignoring X-RateLimit-Reset beyond MaxBlock for pacing", "reset", reset)
		} else {
			d.PaceReset, d.PaceLeft, d.PaceNext = reset.UnixNano(), rem, now.UnixNano()
		}
	}

	var cause string
	switch {
	case status == http.StatusTooManyRequests:
		cause = Cause429
	case raOK && ra > 0:
		cause = CauseRetryAfter
	case remZero:
		cause = CauseRemainingZero
	default:
		if status < 400 {
			l.level = 0
		}
		return d, ""
	}

	var until time.Time
	if raOK && ra > 0 {
		until = now.Add(ra)
	}
	if resetOK && (status == http.StatusTooManyRequests || remZero) {
		if reset.After(until) && reset.After(now) {
			until = reset
		}
		if !reset.After(now) {
			l.log.Debug("limiter: X-RateLimit-Reset is not in the future; ignoring it", "reset", reset, "now", now)
		}
	}
	if !until.After(now) {
		switch {
		case status == http.StatusTooManyRequests || (remZero && !resetOK):
			b := backoffMin << min(l.level, 10)
			until = now.Add(min(b, backoffMax))
			l.level++
		default:
			// Retry-After: 0, or Remaining 0 with a reset already past: the
			// window is over as far as we can tell. Do not block.
			return d, ""
		}
	}
	if until.After(limit) {
		until = limit
	}
	d.BlockUntil, d.Cause = until.UnixNano(), cause
	return d, cause
}

// retryAfter parses Retry-After: seconds (non-negative, decimals tolerated)
// or an HTTP date. A date in the past means no wait. Huge values are capped
// at MaxBlock.
func (l *Limiter) retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			l.log.Debug("limiter: ignoring malformed Retry-After", "value", v)
			return 0, false
		}
		if s >= l.maxBlock.Seconds() {
			return l.maxBlock, true
		}
		return time.Duration(math.Ceil(s * float64(time.Second))), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		l.log.Debug("limiter: ignoring malformed Retry-After", "value", v)
		return 0, false
	}
	if !t.After(now) {
		l.log.Debug("limiter: Retry-After date is not in the future", "value", v, "now", now)
		return 0, true
	}
	return min(t.Sub(now), l.maxBlock), true
}

// remaining parses X-RateLimit-Remaining, a non-negative integer.
func (l *Limiter) remaining(h http.Header) (int64, bool) {
	v := strings.TrimSpace(h.Get("X-RateLimit-Remaining"))
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		l.log.Debug("limiter: ignoring malformed X-RateLimit-Remaining", "value", v)
		return 0, false
	}
	return n, true
}

// reset parses X-RateLimit-Reset as Unix seconds (decimals tolerated), or as
// seconds from now when below deltaResetBelow. A reset beyond MaxBlock is
// clamped just past it, so callers cap it.
func (l *Limiter) reset(h http.Header, now time.Time) (time.Time, bool) {
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	if v == "" {
		return time.Time{}, false
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		l.log.Debug("limiter: ignoring malformed X-RateLimit-Reset", "value", v)
		return time.Time{}, false
	}
	far := now.Add(l.maxBlock + time.Second)
	if s < deltaResetBelow {
		if s >= far.Sub(now).Seconds() {
			return far, true
		}
		return now.Add(time.Duration(s * float64(time.Second))), true
	}
	if s >= float64(far.Unix()) {
		return far, true
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// foreign reports whether X-RateLimit-Window (seconds) names a window other
// than Config.Window. Without Window, or without a readable header, every
// answer is this limiter's.
func (l *Limiter) foreign(h http.Header) bool {
	v := strings.TrimSpace(h.Get("X-RateLimit-Window"))
	if l.window <= 0 || v == "" {
		return false
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || !(s > 0) || math.IsInf(s, 0) {
		l.log.Debug("limiter: ignoring malformed X-RateLimit-Window", "value", v)
		return false
	}
	return math.Abs(s-l.window.Seconds()) > 0.5
}
