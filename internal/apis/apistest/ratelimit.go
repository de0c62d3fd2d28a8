package apistest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit is a fixed-window limit as the real APIs apply it: Limit requests
// per Window, windows aligned to multiples of Window since the Unix epoch.
// Over the limit the fake answers 429. The zero value (Limit 0) disables it.
type RateLimit struct {
	Limit  int
	Window time.Duration
	// Headers: X-RateLimit-Limit, -Remaining and -Reset (Unix seconds of the
	// window's end, rounded up) on every answer.
	Headers bool
	// RetryAfter adds Retry-After (whole seconds, rounded up) to 429s.
	RetryAfter bool
}

// Limiter enforces a RateLimit, keyed by credential so each key has its own
// window. Now defaults to time.Now. The zero value enforces nothing.
type Limiter struct {
	mu      sync.Mutex
	rl      RateLimit
	Now     func() time.Time
	windows map[string]*window
	over    int
}

type window struct {
	start time.Time
	used  int
}

// Set replaces the limit and forgets the windows.
func (l *Limiter) Set(rl RateLimit) {
	l.mu.Lock()
	l.rl = rl
	l.windows = nil
	l.mu.Unlock()
}

// Rejected returns how many requests were answered 429.
func (l *Limiter) Rejected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.over
}

// admit counts one request for key, sets the headers, and reports whether it
// may go on; when not, it has written the 429 headers and the caller writes the body.
func (l *Limiter) admit(key string, h http.Header) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl := l.rl
	if rl.Limit <= 0 || rl.Window <= 0 {
		return true
	}
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	start := now.Truncate(rl.Window)
	if l.windows == nil {
		l.windows = map[string]*window{}
	}
	w := l.windows[key]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start}
		l.windows[key] = w
	}
	end := start.Add(rl.Window)
	ok := w.used < rl.Limit
	if ok {
		w.used++
	} else {
		l.over++
	}
	if rl.Headers {
		resetUnix := end.Unix()
		if end.Nanosecond() != 0 {
			resetUnix++
		}
		h.Set("X-RateLimit-Limit", strconv.Itoa(rl.Limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(rl.Limit-w.used))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(resetUnix, 10))
	}
	if !ok && rl.RetryAfter {
		secs := int64((end.Sub(now) + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	return ok
}
