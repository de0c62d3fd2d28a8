package limiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"crmsync/internal/apis"
	"crmsync/internal/metrics"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxBlock  = time.Hour
	DefaultMaxWait   = 10 * time.Second
	DefaultKVTimeout = time.Second
	DefaultKVRetry   = 5 * time.Second
)

var _ apis.Limiter = (*Limiter)(nil)

// Config configures one Limiter. API, Credential and Rate are required.
type Config struct {
	// API names the API: "klicktipp", "klipy", "clickyid" (lower-case letters,
	// digits, '-' and '_'). It is the metrics label and the KV key prefix.
	API string
	// Credential identifies the credential (username or API key). Only a
	// truncated SHA-256 of API and Credential is kept, for KV keys and logs;
	// the value itself is never stored or logged.
	Credential string
	// Rate is the number of requests per second allowed for the whole fleet
	// (every replica sharing KV). Must be positive and finite.
	Rate float64
	// Burst is how many requests may go at once after a quiet spell.
	// Default 1.
	Burst int
	// Window is the API's window this budget stands for (ClickyID: an hour
	// for the key, a minute for an endpoint class). When set, an answer
	// whose X-RateLimit-Window names another window does not block or pace
	// this limiter. Default 0: every answer applies.
	Window time.Duration
	// MaxBlock caps any block an API imposes, and how far ahead an
	// X-RateLimit-Reset is believed. Default 1h.
	MaxBlock time.Duration
	// MaxWait is the longest Wait blocks; when a request could not go
	// within it, Wait returns a *BlockedError at once. Default 10s.
	MaxWait time.Duration
	// Clock is the time source. Default: the system clock.
	Clock Clock
	// KV is the bucket shared by replicas (see EnsureBucket). Nil limits
	// this process alone.
	KV jetstream.KeyValue
	// KVTimeout bounds each KV operation; past it the limiter falls back to
	// local limiting for a while. Default 1s.
	KVTimeout time.Duration
	// KVRetry is how long the limiter limits locally after a KV failure
	// before it tries KV again (wall time). Default 5s.
	KVRetry time.Duration
	// Metrics receives wait times, blocks and budget. Nil records nothing.
	Metrics *metrics.Metrics
	// Logger receives a warning when KV fails, info on blocks, debug on
	// malformed headers. Default slog.Default().
	Logger *slog.Logger

	link *link // set by Registry: the watch its limiters share
}

var apiName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

func (c Config) withDefaults() Config {
	if c.Burst == 0 {
		c.Burst = 1
	}
	if c.MaxBlock == 0 {
		c.MaxBlock = DefaultMaxBlock
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.KVTimeout == 0 {
		c.KVTimeout = DefaultKVTimeout
	}
	if c.KVRetry == 0 {
		c.KVRetry = DefaultKVRetry
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case !apiName.MatchString(c.API):
		return fmt.Errorf("limiter: API %q must be 1-64 of [a-z0-9_-]", c.API)
	case c.Credential == "":
		return fmt.Errorf("limiter: %s: Credential is required", c.API)
	case !(c.Rate > 0) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("limiter: %s: Rate must be positive and finite, got %v", c.API, c.Rate)
	case c.Burst < 0:
		return fmt.Errorf("limiter: %s: Burst must not be negative, got %d", c.API, c.Burst)
	case c.MaxBlock < 0, c.MaxWait < 0, c.Window < 0, c.KVTimeout < 0, c.KVRetry < 0:
		return fmt.Errorf("limiter: %s: MaxBlock, MaxWait, KVTimeout and KVRetry must not be negative", c.API)
	}
	return nil
}

// Limiter decides when a request with one credential may be sent. It is
// safe for concurrent use. Wait before each request, Observe after each
// response; see the package documentation for the rules.
type Limiter struct {
	api      string
	id       string // truncated hash of API and credential
	rate     float64
	burst    int
	interval time.Duration // 1/rate
	window   time.Duration // Config.Window
	maxBlock time.Duration
	maxWait  time.Duration
	clock    Clock
	log      *slog.Logger
	m        *metrics.Metrics
	kv       *shared // nil: local only

	takeMu sync.Mutex // serialises KV grants in this process, across the round trip

	mu          sync.Mutex
	st          state         // effective state: what this process saw joined with the shared one
	waiting     int           // callers inside Wait
	liveWaiting int           // of which live (not apis.IsBackfill)
	leased      int           // tokens granted by the fleet bucket, not yet handed out
	leaseUntil  time.Time     // leased tokens are dropped after it
	paceStart   time.Time     // start of the current grant-counting period
	paceGrants  int           // live grants since paceStart
	liveRate    float64       // live grants per second in the last full period
	bucket      *rate.Limiter // the configured rate and burst, in this process
	level       int           // backoff level for hint-less 429s
	changed     chan struct{} // closed and replaced when st changes
	budget      float64       // value last added to the LimiterBudget gauge
	closed      bool

	closeOnce sync.Once
}

// New returns a Limiter for cfg after applying defaults and validating it.
// With cfg.KV set it starts a watch on the credential's key (stopped by
// Close) and shares blocks and budget with every replica using the bucket;
// if KV is unreachable it starts limiting locally and keeps trying. The
// error is a validation error naming the field.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	id := credentialID(cfg.API, cfg.Credential)
	l := &Limiter{
		api:      cfg.API,
		id:       id,
		rate:     cfg.Rate,
		burst:    cfg.Burst,
		interval: time.Duration(math.Ceil(float64(time.Second) / cfg.Rate)),
		window:   cfg.Window,
		maxBlock: cfg.MaxBlock,
		maxWait:  cfg.MaxWait,
		clock:    cfg.Clock,
		log:      cfg.Logger.With("api", cfg.API, "credential", id),
		m:        cfg.Metrics,
		bucket:   rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		changed:  make(chan struct{}),
	}
	l.mu.Lock()
	l.updateBudgetLocked(l.clock.Now())
	l.mu.Unlock()
	if cfg.KV != nil {
		key := cfg.API + "." + id
		if k := cfg.link; k != nil {
			l.kv = newShared(l, k, key, false)
		} else {
			l.kv = newShared(l, newLink(cfg.KV, key, cfg.KVTimeout, cfg.KVRetry, l.log), key, true)
		}
	}
	return l, nil
}

// credentialID is a short, stable, one-way name for a credential.
func credentialID(api, credential string) string {
	sum := sha256.Sum256([]byte(api + "\x00" + credential))
	return hex.EncodeToString(sum[:8])
}

// API returns the API name the limiter was configured with.
func (l *Limiter) API() string { return l.api }

// ID returns the credential's hashed name (16 hex digits), safe for logs.
func (l *Limiter) ID() string { return l.id }

// Wait blocks until a request may be sent, and counts it. It returns nil
// then; ctx's error if ctx ends first; or at once a *BlockedError (matching
// apis.ErrRateLimited) when the request could not be sent within MaxWait of
// the call, because the API blocked the credential or the budget is spent.
// A request whose ctx is marked by apis.WithBackfill goes only while no live
// request of the credential waits, in this process or (with KV) any other.
// Wait implements apis.Limiter.
func (l *Limiter) Wait(ctx context.Context) error {
	start := l.clock.Now()
	deadline := start.Add(l.maxWait)
	backfill := apis.IsBackfill(ctx)
	l.enter(backfill)
	defer l.leave(backfill)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		g, err := l.acquire(ctx, backfill, deadline)
		if err != nil {
			return err
		}
		if g.ok {
			if l.m != nil {
				l.m.LimiterWait.WithLabelValues(l.api).Observe(g.now.Sub(start).Seconds())
			}
			return nil
		}
		if g.at.After(deadline) {
			wait := min(g.at.Sub(g.now), l.maxBlock)
			return &BlockedError{API: l.api, Until: g.now.Add(wait), Wait: wait, Cause: g.cause}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.clock.Until(g.at):
		case <-g.changed:
		}
	}
}

// grant is the outcome of one attempt to take a request slot.
type grant struct {
	ok      bool
	now     time.Time
	at      time.Time // when not ok: earliest time to try again
	cause   string
	changed <-chan struct{}
}

// enter and leave count the callers inside Wait, live ones apart; when the
// last live one leaves, waiting backfill requests are woken.
func (l *Limiter) enter(backfill bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiting++
	if !backfill {
		l.liveWaiting++
	}
}

func (l *Limiter) leave(backfill bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiting--
	if !backfill {
		l.liveWaiting--
		if l.liveWaiting == 0 {
			l.wakeLocked()
		}
	}
}

// wakeLocked wakes every waiter to look again. l.mu is held.
func (l *Limiter) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// acquire takes a slot if one is free now: a token leased by an earlier
// grant of this process, else one from the fleet bucket in KV, else (KV off
// or failing) from the local bucket alone.
func (l *Limiter) acquire(ctx context.Context, backfill bool, deadline time.Time) (grant, error) {
	if g, ok := l.fromLease(backfill); ok {
		return g, nil
	}
	l.takeMu.Lock()
	defer l.takeMu.Unlock()
	if l.kv != nil && l.kv.active() {
		if g, ok := l.fromLease(backfill); ok { // leased while this one queued for takeMu
			return g, nil
		}
		g, err, done := l.kv.acquire(ctx, backfill, deadline)
		if done {
			return g, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if at, cause := l.readyLocked(now, false, backfill); at.After(now) {
		return grant{now: now, at: at, cause: cause, changed: l.changed}, nil
	}
	l.st = l.st.taken(now, l.interval, 0)
	l.takenLocked(now, backfill)
	return grant{ok: true, now: now}, nil
}

// fromLease hands out one leased token when one is left, still fresh, and
// nothing else holds the request back (a block, pacing, live requests first).
func (l *Limiter) fromLease(backfill bool) (grant, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leased == 0 {
		return grant{}, false
	}
	now := l.clock.Now()
	if !now.Before(l.leaseUntil) {
		l.leased = 0
		return grant{}, false
	}
	if at, _ := l.readyLocked(now, false, backfill); at.After(now) {
		return grant{}, false
	}
	l.leased--
	l.takenLocked(now, backfill)
	return grant{ok: true, now: now}, true
}

// leaseSizeLocked returns how many tokens one KV grant takes from the fleet
// bucket: one for the caller and one for each other request of this process
// waiting with the same priority, as far as the fleet bucket and the local
// one hold them now, and never more than Burst. Pacing takes one at a time.
// A lease never lets the fleet exceed its budget (its tokens are spent in
// the shared TAT); tokens no waiter takes within leaseTTL are wasted, not
// reused. l.mu is held.
func (l *Limiter) leaseSizeLocked(now time.Time, backfill bool) int {
	n := now.UnixNano()
	if l.st.PaceReset > n {
		return 1
	}
	demand := l.liveWaiting
	if backfill {
		demand = l.waiting
	} else {
		// What this process's live requests spend in a lease's life at
		// their recent rate: a steady caller shares a write with its own
		// next requests, not only with those waiting now.
		demand = max(demand, int(l.liveRate*leaseTTL.Seconds()))
	}
	return max(1, min(demand, l.fleetTokensLocked(n), int(l.bucket.TokensAt(now)), l.burst))
}

// fleetTokensLocked returns the tokens the fleet bucket (the shared TAT)
// holds at Unix nanosecond n. l.mu is held.
func (l *Limiter) fleetTokensLocked(n int64) int {
	return int((n + int64(l.burst)*int64(l.interval) - max(l.st.TAT, n)) / int64(l.interval))
}

// takenLocked records a grant in the local bucket and the budget gauge,
// and a live one in the recent live rate. l.mu is held.
func (l *Limiter) takenLocked(now time.Time, backfill bool) {
	l.bucket.ReserveN(now, 1)
	l.updateBudgetLocked(now)
	if backfill {
		return
	}
	if d := now.Sub(l.paceStart); d >= ratePeriod || d < 0 {
		l.liveRate = 0
		if d < 2*ratePeriod && d > 0 { // an idle gap forgets the old pace
			l.liveRate = float64(l.paceGrants) / d.Seconds()
		}
		l.paceStart, l.paceGrants = now, 0
	}
	l.paceGrants++
}

// ratePeriod is the period over which the recent live grant rate is
// counted: short, so a burst of jobs gets leases sized to its pace within
// a tenth of a second (with a second, a run shorter than that took one KV
// round trip per few requests, each holding every other request of the
// credential behind it), and long enough to hold a few of the leases
// (leaseTTL) it sizes.
const ratePeriod = 100 * time.Millisecond

// readyLocked returns the earliest time at or after now that a request may
// go, and what holds it back. shared says whether the fleet bucket (TAT) and
// the fleet's live demand (LiveUntil) apply; backfill that the request is a
// backfill one, which goes after live ones. l.mu is held.
func (l *Limiter) readyLocked(now time.Time, shared, backfill bool) (time.Time, string) {
	at, cause := now, ""
	if backfill {
		if lu := unixNano(l.st.LiveUntil); shared && lu.After(at) {
			at, cause = lu, CauseLive
		}
		if l.liveWaiting > 0 {
			// Behind every live request waiting here: about one interval each.
			at, cause = at.Add(time.Duration(l.liveWaiting)*l.interval), CauseLive
		}
	}
	if bu := unixNano(l.st.BlockUntil); bu.After(at) {
		at, cause = bu, l.st.Cause
	}
	if pr := unixNano(l.st.PaceReset); pr.After(at) {
		p := unixNano(l.st.PaceNext)
		if l.st.PaceLeft <= 0 {
			p = pr
		}
		if p.After(at) {
			at, cause = p, CausePacing
		}
	}
	if shared {
		if g := unixNano(l.st.TAT - int64(l.burst-1)*int64(l.interval)); g.After(at) {
			at, cause = g, CauseRate
		}
	}
	if tok := l.bucket.TokensAt(at); tok < 1 {
		next := at.Add(time.Duration(math.Ceil((1 - tok) / l.rate * 1e9)))
		for i := 0; i < 3 && l.bucket.TokensAt(next) < 1; i++ { // float rounding
			next = next.Add(time.Nanosecond)
		}
		at, cause = next, CauseRate
	}
	return at, cause
}

// Delay returns how long a request made now would wait (zero when it could
// go at once), so a caller can hand work back with that delay instead of
// holding a slot. It reserves nothing. With KV it reads the last shared
// state the watch delivered. Safe for concurrent use.
func (l *Limiter) Delay() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	at, _ := l.readyLocked(now, l.kv != nil && l.kv.activeLocked(), false)
	return min(max(at.Sub(now), 0), l.maxBlock)
}

// Room returns how many requests made now could all go at once without
// waiting (0 when one would wait): the tokens of the local bucket and, with
// KV, of the fleet's as the watch last delivered it; 1 while an API's
// X-RateLimit-Remaining paces requests through its window. It reserves nothing.
// Safe for concurrent use.
func (l *Limiter) Room() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	shared := l.kv != nil && l.kv.activeLocked()
	if at, _ := l.readyLocked(now, shared, false); at.After(now) {
		return 0
	}
	n := now.UnixNano()
	room := int(min(l.bucket.TokensAt(now), float64(l.burst)))
	if shared {
		room = min(room, l.fleetTokensLocked(n))
	}
	if l.st.PaceReset > n {
		room = min(room, 1)
	}
	return max(room, 0)
}

// cause says what holds a request back now ("" when nothing does).
func (l *Limiter) cause() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, c := l.readyLocked(l.clock.Now(), l.kv != nil && l.kv.activeLocked(), false)
	return c
}

// Observe reads one response's status and headers (Retry-After,
// X-RateLimit-Remaining, X-RateLimit-Reset) and blocks or paces the
// credential accordingly, in every replica when KV is set. Malformed values
// are ignored with a debug log. With KV, when the response told this
// replica something the bucket lacks, Observe writes it before returning (one
// round trip, at most KVTimeout). Observe implements apis.Limiter.
func (l *Limiter) Observe(status int, h http.Header) {
	l.mu.Lock()
	now := l.clock.Now()
	d, cause := l.assessLocked(status, h, now)
	l.mergeLocked(d, now)
	publish := l.kv != nil && l.kv.behindLocked()
	l.mu.Unlock()
	if cause != "" {
		if l.m != nil {
			l.m.LimiterBlocks.WithLabelValues(l.api, cause).Inc()
		}
		l.log.Info("limiter: API blocked the credential", "cause", cause, "status", status,
			"for", unixNano(d.BlockUntil).Sub(now).Round(time.Millisecond))
	}
	if publish {
		l.kv.publish()
	}
}

// mergeLocked joins d into the effective state and wakes waiters when it
// changed. l.mu is held.
func (l *Limiter) mergeLocked(d state, now time.Time) bool {
	next := join(l.st, d)
	if next == l.st {
		return false
	}
	if next.BlockUntil != l.st.BlockUntil || next.PaceReset != l.st.PaceReset || next.PaceLeft != l.st.PaceLeft {
		l.leased = 0 // the API said something new: no tokens handed out on an older grant
	}
	l.st = next
	l.wakeLocked()
	l.updateBudgetLocked(now)
	return true
}

// boundLocked caps a state read from KV relative to now, as an API's own
// answer is capped: no block, window reset or live demand beyond MaxBlock
// (plus kvSkew), no TAT beyond a full burst ahead (plus kvSkew), no paced
// request after its window's reset, and a cause that is one of ours. A
// poisoned or clock-skewed value therefore holds requests back at most
// MaxBlock, not until a restart. l.mu is held.
func (l *Limiter) boundLocked(st state, now time.Time) state {
	n := now.UnixNano()
	limit := n + int64(l.maxBlock+kvSkew)
	st.BlockUntil = min(st.BlockUntil, limit)
	st.PaceReset = min(st.PaceReset, limit)
	st.PaceNext = min(st.PaceNext, st.PaceReset)
	st.PaceLeft = max(st.PaceLeft, 0)
	st.LiveUntil = min(st.LiveUntil, limit)
	st.TAT = min(st.TAT, n+int64(l.burst)*int64(l.interval)+int64(kvSkew))
	switch st.Cause {
	case Cause429, CauseRetryAfter, CauseRemainingZero, "":
	default:
		st.Cause = Cause429
	}
	return st
}

// updateBudgetLocked sets this limiter's share of the LimiterBudget gauge to
// the tokens available now (zero while blocked). l.mu is held.
func (l *Limiter) updateBudgetLocked(now time.Time) {
	if l.m == nil || l.closed {
		return
	}
	tok := min(max(l.bucket.TokensAt(now), 0), float64(l.burst))
	if l.kv != nil && l.kv.activeLocked() {
		lag := float64(l.st.TAT-now.UnixNano()) / float64(l.interval)
		tok = min(tok, max(float64(l.burst)-max(lag, 0), 0))
	}
	if l.st.BlockUntil > now.UnixNano() || (l.st.PaceReset > now.UnixNano() && l.st.PaceLeft <= 0) {
		tok = 0
	}
	l.m.LimiterBudget.WithLabelValues(l.api).Add(tok - l.budget)
	l.budget = tok
}

// Close stops the KV watch and waits for it; afterwards the limiter keeps
// working on its own, without KV. It is safe to call more than once and
// always returns nil.
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() {
		if l.kv != nil {
			l.kv.close()
		}
		l.mu.Lock()
		if l.m != nil {
			l.m.LimiterBudget.WithLabelValues(l.api).Add(-l.budget)
		}
		l.budget = 0
		l.closed = true
		l.mu.Unlock()
	})
	return nil
}
