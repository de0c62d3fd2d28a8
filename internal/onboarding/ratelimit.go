package onboarding

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// AddressLimiter limits requests per client address with one token bucket
// each. It remembers at most Max addresses: when full, it forgets those
// idle long enough to have refilled, and refuses new addresses if none is.
// The zero value is not usable; use NewAddressLimiter. It is safe for
// concurrent use.
type AddressLimiter struct {
	every time.Duration
	burst int
	max   int

	mu    sync.Mutex
	addrs map[string]*addrBucket
}

type addrBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// NewAddressLimiter allows burst requests at once per address and one more
// every every; it tracks at most max addresses (default 10,000).
func NewAddressLimiter(every time.Duration, burst, max int) *AddressLimiter {
	if max <= 0 {
		max = 10000
	}
	return &AddressLimiter{every: every, burst: max1(burst), max: max, addrs: map[string]*addrBucket{}}
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// Allow reports whether addr may make a request at now, and takes it.
func (l *AddressLimiter) Allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.addrs[addr]
	if !ok {
		if len(l.addrs) >= l.max {
			l.sweep(now)
			if len(l.addrs) >= l.max {
				return false
			}
		}
		b = &addrBucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.addrs[addr] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// sweep forgets addresses whose bucket has refilled since their last request.
func (l *AddressLimiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for a, b := range l.addrs {
		if now.Sub(b.last) >= full {
			delete(l.addrs, a)
		}
	}
}
