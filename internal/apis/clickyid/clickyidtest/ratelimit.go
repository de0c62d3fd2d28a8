package clickyidtest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"crmsync/internal/apis/apistest"
)

// Class is an endpoint class of ClickyID's rate-limiting guide; each has its
// own per-minute limit per key.
type Class string

// The endpoint classes. ClassSingle (POST /validate/target-group and
// /validate/offer) is not served by the fake but can be configured.
const (
	ClassSingle       Class = "single"        // single validation
	ClassBulk         Class = "bulk"          // POST /validate/bulk
	ClassTargetGroups Class = "target-groups" // GET /target-groups
	ClassOffers       Class = "offers"        // GET /offers
)

// classOf maps a served path to its class.
func classOf(path string) Class {
	switch path {
	case "/validate/bulk":
		return ClassBulk
	case "/target-groups":
		return ClassTargetGroups
	case "/offers":
		return ClassOffers
	}
	return ClassSingle
}

// ClassLimit is one endpoint class's limit: Limit requests per Window, in
// bursts of up to Burst (a token bucket that holds Burst tokens and refills
// Limit per Window; Burst 0 means Limit). The guide gives the numbers but
// not the algorithm: the token bucket is a guess. The zero value is no limit.
type ClassLimit struct {
	Limit  int
	Burst  int
	Window time.Duration
}

// Limits are all the limits of one key: the hourly budget (a fixed window,
// as "rate limits reset every hour" says) and the per-minute limit of each
// endpoint class. A request must be admitted by both; a request its class
// refuses does not use the hourly budget.
type Limits struct {
	Hourly  apistest.RateLimit
	Classes map[Class]ClassLimit
}

// RealLimits are the documented defaults: 1,000 requests per hour per key
// (authentication guide) and, per minute, single validation 100 (burst
// 200), bulk 10 (burst 20), target groups 50 (burst 100), offers 30 (burst
// 60) (rate-limiting guide), with X-RateLimit-Limit, -Remaining, -Reset and
// -Window on every answer.
var RealLimits = Limits{
	Hourly: apistest.RateLimit{Limit: 1000, Window: time.Hour, Headers: true},
	Classes: map[Class]ClassLimit{
		ClassSingle:       {Limit: 100, Burst: 200, Window: time.Minute},
		ClassBulk:         {Limit: 10, Burst: 20, Window: time.Minute},
		ClassTargetGroups: {Limit: 50, Burst: 100, Window: time.Minute},
		ClassOffers:       {Limit: 30, Burst: 60, Window: time.Minute},
	},
}

// Scaled returns l with every window multiplied by f (for example f =
// 1.0/30 turns a minute into 2 s and an hour into 2 min), for tests and a
// fast sandbox.
func (l Limits) Scaled(f float64) Limits {
	out := Limits{Hourly: l.Hourly, Classes: map[Class]ClassLimit{}}
	out.Hourly.Window = time.Duration(float64(l.Hourly.Window) * f)
	for c, cl := range l.Classes {
		cl.Window = time.Duration(float64(cl.Window) * f)
		out.Classes[c] = cl
	}
	return out
}

// WithLimits replaces the limits (the default is the hourly budget only,
// DefaultRateLimit, so tests that make many calls are not slowed).
func WithLimits(l Limits) Option {
	return func(s *Server) { s.SetLimits(l) }
}

// WithRealLimits enforces RealLimits.
func WithRealLimits() Option { return WithLimits(RealLimits) }

// SetLimits replaces the limits and starts fresh windows and buckets.
func (s *Server) SetLimits(l Limits) {
	s.SetRateLimit(l.Hourly)
	s.cls.set(l.Classes)
}

// classLimiter holds one token bucket per key and class.
type classLimiter struct {
	mu       sync.Mutex
	limits   map[Class]ClassLimit
	buckets  map[string]*bucket
	rejected int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (c *classLimiter) set(l map[Class]ClassLimit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limits = map[Class]ClassLimit{}
	for k, v := range l {
		c.limits[k] = v
	}
	c.buckets = nil
}

func (c *classLimiter) rejections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejected
}

// classState is a bucket's state after a look or a take.
type classState struct {
	limited   bool
	limit     int
	remaining int
	reset     time.Time     // when the bucket is full again
	retry     time.Duration // until one token is there (0 when one is)
	window    time.Duration
}

// look refills key's bucket for class to now and reports its state; with
// take it also uses one token when there is one.
func (c *classLimiter) look(key string, class Class, now time.Time, take bool) classState {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.limits[class]
	if !ok || cl.Limit <= 0 || cl.Window <= 0 {
		return classState{}
	}
	burst := cl.Burst
	if burst <= 0 {
		burst = cl.Limit
	}
	perToken := cl.Window / time.Duration(cl.Limit)
	if c.buckets == nil {
		c.buckets = map[string]*bucket{}
	}
	id := key + "\x00" + string(class)
	b := c.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(burst), last: now}
		c.buckets[id] = b
	}
	if now.After(b.last) {
		b.tokens = math.Min(float64(burst), b.tokens+float64(now.Sub(b.last))/float64(perToken))
		b.last = now
	}
	st := classState{limited: true, limit: cl.Limit, window: cl.Window}
	if b.tokens < 1 {
		st.retry = time.Duration((1 - b.tokens) * float64(perToken))
		if take {
			c.rejected++
		}
	} else if take {
		b.tokens--
	}
	st.remaining = int(math.Floor(b.tokens))
	st.reset = now.Add(time.Duration((float64(burst) - b.tokens) * float64(perToken)))
	return st
}

// admit applies the class's bucket and the hourly budget to one request of
// key, sets the X-RateLimit-* headers of the limit that refused it, or of
// the tighter one (fewer remaining), and reports whether it may go on.
func (s *Server) admit(key string, class Class, h http.Header) bool {
	now := s.now()
	if st := s.cls.look(key, class, now, false); st.limited && st.retry > 0 {
		s.cls.look(key, class, now, true) // counts the refusal
		setClassHeaders(h, st)
		h.Set("Retry-After", strconv.FormatInt(int64((st.retry+time.Second-1)/time.Second), 10))
		return false
	}
	hh := http.Header{}
	if !s.lim.Admit(key, hh) {
		copyHeader(h, hh, s.hourlyWindow())
		return false
	}
	st := s.cls.look(key, class, now, true)
	switch {
	case !st.limited:
		copyHeader(h, hh, s.hourlyWindow())
	case hh.Get("X-RateLimit-Remaining") == "":
		setClassHeaders(h, st)
	default:
		if rem, err := strconv.Atoi(hh.Get("X-RateLimit-Remaining")); err == nil && rem < st.remaining {
			copyHeader(h, hh, s.hourlyWindow())
		} else {
			setClassHeaders(h, st)
		}
	}
	return true
}

func setClassHeaders(h http.Header, st classState) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(st.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(st.remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(st.reset), 10))
	h.Set("X-RateLimit-Window", strconv.FormatInt(int64(math.Ceil(st.window.Seconds())), 10))
}

// copyHeader copies the hourly limiter's headers, adding its window.
func copyHeader(dst, src http.Header, window time.Duration) {
	for k, vs := range src {
		dst[k] = vs
	}
	if src.Get("X-RateLimit-Limit") != "" && window > 0 {
		dst.Set("X-RateLimit-Window", strconv.FormatInt(int64(math.Ceil(window.Seconds())), 10))
	}
}

func ceilUnix(t time.Time) int64 {
	if t.Nanosecond() != 0 {
		return t.Unix() + 1
	}
	return t.Unix()
}
