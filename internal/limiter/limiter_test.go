package limiter_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"crmsync/internal/apis"
	"crmsync/internal/limiter"
	"crmsync/internal/limiter/limitertest"
	"crmsync/internal/metrics"
)

// start is a whole second, as X-RateLimit-Reset values are.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const secret = "ck_live_0123456789abcdef0123456789abcdef01234567"

type bundle struct {
	clock *limitertest.Clock
	lim   *limiter.Limiter
	m     *metrics.Metrics
	logs  *logBuffer
}

// setup builds a ClickyID limiter on a fake clock with metrics and a debug
// logger; mod adjusts the config.
func setup(t *testing.T, mod func(*limiter.Config)) *bundle {
	t.Helper()
	b := &bundle{clock: limitertest.NewClock(start), m: metrics.New(prometheus.NewRegistry())}
	var log *slog.Logger
	log, b.logs = newLogger()
	cfg := limiter.Config{
		API: "clickyid", Credential: secret, Rate: 1, Burst: 1,
		Clock: b.clock, Metrics: b.m, Logger: log,
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := limiter.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	b.lim = l
	return b
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func unix(d time.Duration) string { return strconv.FormatInt(start.Add(d).Unix(), 10) }

func TestObserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		h      http.Header
		want   time.Duration // Delay right after
		cause  string        // block counted, "" for none
		log    string        // expected in the debug log
	}{
		{"429 without headers backs off 1s", 429, nil, time.Second, "429", ""},
		{"429 Retry-After seconds", 429, hdr("Retry-After", "30"), 30 * time.Second, "429", ""},
		{"429 Retry-After decimal seconds", 429, hdr("Retry-After", "1.5"), 1500 * time.Millisecond, "429", ""},
		{"429 Retry-After HTTP date", 429, hdr("Retry-After", start.Add(45*time.Second).Format(http.TimeFormat)), 45 * time.Second, "429", ""},
		{"429 Reset only", 429, hdr("X-RateLimit-Reset", unix(40*time.Second)), 40 * time.Second, "429", ""},
		{"429 later of Retry-After and Reset", 429, hdr("Retry-After", "10", "X-RateLimit-Reset", unix(40*time.Second)), 40 * time.Second, "429", ""},
		{"429 Retry-After 0 backs off", 429, hdr("Retry-After", "0"), time.Second, "429", ""},
		{"200 Retry-After blocks", 200, hdr("Retry-After", "20"), 20 * time.Second, "retry_after", ""},
		{"503 Retry-After blocks", 503, hdr("Retry-After", "5"), 5 * time.Second, "retry_after", ""},
		{"200 Retry-After 0", 200, hdr("Retry-After", "0"), 0, "", ""},
		{"200 Retry-After date past", 200, hdr("Retry-After", start.Add(-time.Minute).Format(http.TimeFormat)), 0, "", "not in the future"},
		{"Remaining 0 with Reset", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(40*time.Second)), 40 * time.Second, "remaining_zero", ""},
		{"Remaining 0 with Reset as delta seconds", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "30"), 30 * time.Second, "remaining_zero", ""},
		{"Remaining 0 without Reset backs off", 200, hdr("X-RateLimit-Remaining", "0"), time.Second, "remaining_zero", ""},
		{"skew: Remaining 0, Reset past", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(-5*time.Second)), 0, "", "not in the future"},
		{"skew: 429, Reset past backs off", 429, hdr("X-RateLimit-Reset", unix(-5*time.Second)), time.Second, "429", "not in the future"},
		{"429 Retry-After garbage", 429, hdr("Retry-After", "soon"), time.Second, "429", "malformed Retry-After"},
		{"429 Retry-After negative", 429, hdr("Retry-After", "-5"), time.Second, "429", "malformed Retry-After"},
		{"429 Retry-After NaN", 429, hdr("Retry-After", "NaN"), time.Second, "429", "malformed Retry-After"},
		{"429 Retry-After huge capped at 1h", 429, hdr("Retry-After", "99999999999999999999"), time.Hour, "429", ""},
		{"200 Retry-After garbage", 200, hdr("Retry-After", "later"), 0, "", "malformed Retry-After"},
		{"Remaining garbage", 200, hdr("X-RateLimit-Remaining", "lots", "X-RateLimit-Reset", unix(time.Minute)), 0, "", "malformed X-RateLimit-Remaining"},
		{"Remaining negative", 200, hdr("X-RateLimit-Remaining", "-1", "X-RateLimit-Reset", unix(time.Minute)), 0, "", "malformed X-RateLimit-Remaining"},
		{"Remaining 0, Reset garbage backs off", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "tomorrow"), time.Second, "remaining_zero", "malformed X-RateLimit-Reset"},
		{"Remaining 0, Reset negative backs off", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "-100"), time.Second, "remaining_zero", "malformed X-RateLimit-Reset"},
		{"Remaining 0, Reset huge capped at 1h", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "99999999999999999"), time.Hour, "remaining_zero", ""},
		{"Remaining 0, Reset Inf", 200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "+Inf"), time.Second, "remaining_zero", "malformed X-RateLimit-Reset"},
		{"200 without headers", 200, nil, 0, "", ""},
		{"200 with budget left", 200, hdr("X-RateLimit-Remaining", "500", "X-RateLimit-Reset", unix(time.Hour)), 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			b.lim.Observe(tt.status, tt.h)
			if got := b.lim.Delay(); got != tt.want {
				t.Errorf("Delay() = %v, want %v", got, tt.want)
			}
			for _, c := range []string{"429", "retry_after", "remaining_zero"} {
				want := 0.0
				if c == tt.cause {
					want = 1
				}
				if got := testutil.ToFloat64(b.m.LimiterBlocks.WithLabelValues("clickyid", c)); got != want {
					t.Errorf("blocks{cause=%q} = %v, want %v", c, got, want)
				}
			}
			if tt.log != "" && !strings.Contains(b.logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, b.logs)
			}
			// A block lifts when it says, not later: after it, one request goes.
			b.clock.Advance(tt.want)
			if got := b.lim.Delay(); got != 0 {
				t.Errorf("Delay() after the block = %v, want 0", got)
			}
		})
	}
}

func TestBackoffDoublesCapsAndResets(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		b.lim.Observe(429, nil)
		if got := b.lim.Delay(); got != w*time.Second {
			t.Fatalf("429 #%d: Delay() = %v, want %v", i+1, got, w*time.Second)
		}
		b.clock.Advance(w * time.Second)
	}
	b.lim.Observe(200, nil)
	b.lim.Observe(429, nil)
	if got := b.lim.Delay(); got != time.Second {
		t.Fatalf("429 after a success: Delay() = %v, want 1s", got)
	}
}

func TestMaxBlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxBlock, want time.Duration
	}{{0, time.Hour}, {5 * time.Minute, 5 * time.Minute}, {2 * time.Hour, 2 * time.Hour}} {
		b := setup(t, func(c *limiter.Config) { c.MaxBlock = tc.maxBlock })
		b.lim.Observe(429, hdr("Retry-After", "86400"))
		if got := b.lim.Delay(); got != tc.want {
			t.Errorf("MaxBlock %v: Delay() = %v, want %v", tc.maxBlock, got, tc.want)
		}
		b.lim.Observe(200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", unix(48*time.Hour)))
		if got := b.lim.Delay(); got != tc.want {
			t.Errorf("MaxBlock %v, far reset: Delay() = %v, want %v", tc.maxBlock, got, tc.want)
		}
	}
}

func TestWaitReturnsBlockedErrorBeyondMaxWait(t *testing.T) {
	t.Parallel()
	b := setup(t, nil) // MaxWait defaults to 10s
	b.lim.Observe(429, hdr("Retry-After", "30"))
	err := b.lim.Wait(context.Background())
	var be *limiter.BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("Wait = %v, want *BlockedError", err)
	}
	if !errors.Is(err, apis.ErrRateLimited) {
		t.Error("BlockedError does not match apis.ErrRateLimited")
	}
	if d, ok := apis.RetryAfter(err); !ok || d != 30*time.Second {
		t.Errorf("apis.RetryAfter = %v, %v; want 30s", d, ok)
	}
	if be.Cause != limiter.Cause429 || !be.Until.Equal(start.Add(30*time.Second)) || be.API != "clickyid" {
		t.Errorf("BlockedError = %+v", be)
	}
	if s := err.Error(); !strings.Contains(s, "429") || strings.Contains(s, secret) {
		t.Errorf("Error() = %q", s)
	}

	// Configurable: with MaxWait 1m the same block is waited out.
	b = setup(t, func(c *limiter.Config) { c.MaxWait = time.Minute })
	b.lim.Observe(429, hdr("Retry-After", "30"))
	done := goWait(b.lim, context.Background())
	awaitTimer(t, b.clock)
	b.clock.Advance(30 * time.Second)
	if err := recv(t, done, "Wait"); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// recvTimeout bounds every wait on a channel in these tests, so a limiter
// bug fails the test with a message instead of hanging the package.
const recvTimeout = 10 * time.Second

// recv returns the next value from ch, failing the test if none arrives
// within recvTimeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(recvTimeout):
		t.Fatalf("%s: nothing within %s", what, recvTimeout)
		var zero T
		return zero
	}
}

// waitFor runs wait (a WaitGroup's or pool's Wait) and fails the test if it
// does not return within recvTimeout: a Wait that ignores its context must
// not hang the package.
func waitFor(t *testing.T, wait func(), what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	recv(t, done, what)
}

func goWait(l *limiter.Limiter, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	return done
}

// awaitTimer waits until a goroutine waits on the fake clock.
func awaitTimer(t *testing.T, c *limitertest.Clock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.AwaitPending(ctx, 1); err != nil {
		t.Fatal("nothing waits on the clock")
	}
}

func TestWaitHonoursBlockThenGoes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.lim.Observe(429, hdr("Retry-After", "5"))
	done := goWait(b.lim, context.Background())
	awaitTimer(t, b.clock)
	b.clock.Advance(4 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v one second before the block ends", err)
	default: // only the clock can release it
	}
	awaitTimer(t, b.clock)
	b.clock.Advance(time.Second)
	if err := recv(t, done, "Wait"); err != nil {
		t.Fatalf("Wait = %v", err)
	}
	if got := histCount(t, b.m, "clickyid"); got != 1 {
		t.Errorf("wait histogram count = %d, want 1", got)
	}
}

func TestWaitCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.lim.Observe(429, hdr("Retry-After", "5"))
	ctx, cancel := context.WithCancel(context.Background())
	done := goWait(b.lim, ctx)
	awaitTimer(t, b.clock)
	cancel()
	if err := recv(t, done, "Wait after cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}

func TestWaitGivesUpWhenABlockArrives(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if err := b.lim.Wait(context.Background()); err != nil { // spends the one token
		t.Fatal(err)
	}
	done := goWait(b.lim, context.Background()) // waits 1s for the next
	awaitTimer(t, b.clock)
	b.lim.Observe(429, hdr("Retry-After", "120"))
	var be *limiter.BlockedError
	if err := recv(t, done, "Wait once a block arrives"); !errors.As(err, &be) || be.Wait != 120*time.Second {
		t.Fatalf("Wait = %v, want a 2m *BlockedError without the clock moving", err)
	}
}

func TestRateAndBurst(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 2, 3 })
	ctx := context.Background()
	for i := range 3 {
		if d := b.lim.Delay(); d != 0 {
			t.Fatalf("burst request %d: Delay() = %v", i, d)
		}
		if err := b.lim.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.lim.Delay(); d < 500*time.Millisecond || d > 501*time.Millisecond {
		t.Fatalf("after the burst: Delay() = %v, want 500ms", d)
	}
	// Delay takes nothing: asking again and again changes nothing.
	for range 10 {
		b.lim.Delay()
	}
	b.clock.Advance(b.lim.Delay())
	if d := b.lim.Delay(); d != 0 {
		t.Fatalf("Delay() = %v after waiting it out", d)
	}
	done := goWait(b.lim, ctx)
	if err := recv(t, done, "Wait"); err != nil {
		t.Fatal(err)
	}
}

func TestPacingSpreadsRemainingToReset(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 100, 100 })
	// 4 left, reset in 10s: one every 2.5s, none more before the reset.
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "4", "X-RateLimit-Reset", unix(10*time.Second)))
	var got []time.Duration
	for b.clock.Now().Before(start.Add(10 * time.Second)) {
		if d := b.lim.Delay(); d > 0 {
			b.clock.Advance(d)
			continue
		}
		if err := b.lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.clock.Now().Sub(start))
	}
	want := []time.Duration{0, 2500 * time.Millisecond, 5 * time.Second, 7500 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("grants at %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("grants at %v, want %v", got, want)
		}
	}
	// After the reset the window is new: the burst is back.
	if d := b.lim.Delay(); d != 0 {
		t.Fatalf("Delay() at reset = %v", d)
	}
}

func TestPacingSameWindowOnlyLowers(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 100, 100 })
	reset := unix(10 * time.Second)
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "10", "X-RateLimit-Reset", reset))
	_ = b.lim.Wait(context.Background()) // next in 1s
	if d := b.lim.Delay(); d != time.Second {
		t.Fatalf("Delay() = %v, want 1s", d)
	}
	// A late answer from before our grant says more are left: ignored.
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "50", "X-RateLimit-Reset", reset))
	if d := b.lim.Delay(); d != time.Second {
		t.Fatalf("Delay() = %v, want 1s", d)
	}
	// Someone else spent the rest: none left until the reset.
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset))
	if d := b.lim.Delay(); d != 10*time.Second {
		t.Fatalf("Delay() = %v, want 10s", d)
	}
}

func TestPacingIgnoresFarReset(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 100, 100 })
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "3", "X-RateLimit-Reset", "999999999999"))
	for range 5 {
		if err := b.lim.Wait(context.Background()); err != nil {
			t.Fatalf("paced by a reset beyond MaxBlock: %v", err)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 1, 5 })
	budget := func() float64 { return testutil.ToFloat64(b.m.LimiterBudget.WithLabelValues("clickyid")) }
	if got := budget(); got != 5 {
		t.Fatalf("budget = %v, want 5", got)
	}
	_ = b.lim.Wait(context.Background())
	_ = b.lim.Wait(context.Background())
	if got := budget(); got != 3 {
		t.Fatalf("budget = %v, want 3", got)
	}
	b.lim.Observe(429, hdr("Retry-After", "3"))
	if got := budget(); got != 0 {
		t.Fatalf("budget while blocked = %v, want 0", got)
	}
	if got := histCount(t, b.m, "clickyid"); got != 2 {
		t.Fatalf("wait count = %d, want 2", got)
	}
	b.lim.Close()
	if got := budget(); got != 0 {
		t.Fatalf("budget after Close = %v, want 0", got)
	}
}

func histCount(t *testing.T, m *metrics.Metrics, api string) uint64 {
	t.Helper()
	var d dto.Metric
	if err := m.LimiterWait.WithLabelValues(api).(prometheus.Histogram).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func TestNilMetricsAndDefaults(t *testing.T) {
	t.Parallel()
	l, err := limiter.New(limiter.Config{API: "klipy", Credential: "k", Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Observe(429, hdr("Retry-After", "garbage"))
	if d := l.Delay(); d <= 0 || d > time.Second {
		t.Fatalf("Delay() = %v", d)
	}
}

func TestCredentialNeverInClear(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	_ = b.lim.Wait(context.Background())
	b.lim.Observe(429, hdr("Retry-After", "x"))
	if strings.Contains(b.logs.String(), secret) || strings.Contains(b.lim.ID(), secret) {
		t.Fatal("credential in clear")
	}
	if len(b.lim.ID()) != 16 || !strings.Contains(b.logs.String(), b.lim.ID()) {
		t.Fatalf("ID %q not a 16-hex hash used in logs", b.lim.ID())
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ok := limiter.Config{API: "klicktipp", Credential: "u", Rate: 10, Burst: 10}
	for name, mod := range map[string]func(*limiter.Config){
		"no API":           func(c *limiter.Config) { c.API = "" },
		"API with a dot":   func(c *limiter.Config) { c.API = "a.b" },
		"no credential":    func(c *limiter.Config) { c.Credential = "" },
		"zero rate":        func(c *limiter.Config) { c.Rate = 0 },
		"negative rate":    func(c *limiter.Config) { c.Rate = -1 },
		"infinite rate":    func(c *limiter.Config) { c.Rate = math.Inf(1) },
		"negative burst":   func(c *limiter.Config) { c.Burst = -1 },
		"negative MaxWait": func(c *limiter.Config) { c.MaxWait = -time.Second },
	} {
		cfg := ok
		mod(&cfg)
		if l, err := limiter.New(cfg); err == nil {
			l.Close()
			t.Errorf("%s: New accepted %+v", name, cfg)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error", name)
		}
	}
}

// Room counts the requests that could go at once: the burst left, none
// while one would wait, one at a time while pacing.
func TestRoom(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *limiter.Config) { c.Rate, c.Burst = 2, 3 })
	ctx := context.Background()
	for want := 3; want > 0; want-- {
		if got := b.lim.Room(); got != want {
			t.Fatalf("Room() = %d, want %d", got, want)
		}
		if err := b.lim.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.lim.Room(); got != 0 {
		t.Fatalf("after the burst: Room() = %d, want 0", got)
	}
	b.clock.Advance(time.Second) // two tokens back at 2/s
	if got := b.lim.Room(); got != 2 {
		t.Fatalf("a second later: Room() = %d, want 2", got)
	}
	b.clock.Advance(10 * time.Second)
	b.lim.Observe(200, hdr("X-RateLimit-Remaining", "50", "X-RateLimit-Reset", unix(20*time.Second)))
	if got := b.lim.Room(); got != 1 {
		t.Fatalf("while pacing: Room() = %d, want 1", got)
	}
	b.lim.Observe(http.StatusTooManyRequests, hdr("Retry-After", "30"))
	if got := b.lim.Room(); got != 0 {
		t.Fatalf("while blocked: Room() = %d, want 0", got)
	}
}
