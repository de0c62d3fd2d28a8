package limiter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/limiter"
)

// natsServer is an embedded JetStream server for one test.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	mu   sync.Mutex
	srv  *server.Server
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	s := &natsServer{t: t, dir: t.TempDir(), port: -1}
	s.start()
	t.Cleanup(s.shutdown) // registered after TempDir: runs before it is removed
	return s
}

func (s *natsServer) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		s.t.Fatal("nats server not ready")
	}
	s.mu.Lock()
	s.srv, s.port = srv, srv.Addr().(*net.TCPAddr).Port
	s.mu.Unlock()
}

func (s *natsServer) shutdown() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	srv.Shutdown()
	srv.WaitForShutdown()
}

// bucket connects (its own connection, as a replica would) and ensures the bucket.
func (s *natsServer) bucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	s.mu.Lock()
	url := s.srv.ClientURL()
	s.mu.Unlock()
	nc, err := nats.Connect(url, nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := limiter.EnsureBucket(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// replica builds a limiter on the real clock sharing kv.
func replica(t *testing.T, kv jetstream.KeyValue, mod func(*limiter.Config)) (*limiter.Limiter, *logBuffer) {
	t.Helper()
	log, logs := newLogger()
	cfg := limiter.Config{
		API: "clickyid", Credential: secret, Rate: 1, Burst: 1, KV: kv, Logger: log,
		KVTimeout: 300 * time.Millisecond, KVRetry: 100 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	l, err := limiter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, logs
}

// eventually polls cond until it holds or 10s pass; it returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	begin := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(begin) > 10*time.Second {
			t.Fatalf("%s: not within 10s", what)
		}
		select {
		case <-tick.C:
		case <-time.After(recvTimeout):
			t.Fatalf("%s: ticker stopped", what)
		}
	}
	return time.Since(begin)
}

func TestEnsureBucketIdempotent(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	kv := s.bucket(t)
	kv2 := s.bucket(t)
	st, err := kv2.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if kv.Bucket() != limiter.Bucket || st.History() != 1 || st.TTL() != limiter.BucketTTL {
		t.Fatalf("bucket %s history %d ttl %v", kv.Bucket(), st.History(), st.TTL())
	}
}

func TestKVBlockReachesOtherReplica(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, _ := replica(t, s.bucket(t), nil)
	b, _ := replica(t, s.bucket(t), nil)
	if d := b.Delay(); d != 0 {
		t.Fatalf("b.Delay() = %v before any block", d)
	}
	a.Observe(429, hdr("Retry-After", "30"))
	took := eventually(t, "block reaching replica b", func() bool { return b.Delay() > 25*time.Second })
	t.Logf("block reached the other replica in %v", took)
	if took > 2*time.Second { // the design target is 100ms; this bound only catches a broken watch
		t.Errorf("block took %v to reach the other replica", took)
	}
	err := b.Wait(context.Background())
	var be *limiter.BlockedError
	if !errors.As(err, &be) || be.Cause != limiter.Cause429 {
		t.Fatalf("b.Wait = %v, want a 429 *BlockedError", err)
	}
	// A third replica started later learns the block from the key.
	c, _ := replica(t, s.bucket(t), nil)
	eventually(t, "block reaching a new replica", func() bool { return c.Delay() > 25*time.Second })
}

func TestKVPairSharesOneBudget(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	const rate, burst, window = 20.0, 2, time.Second
	mod := func(c *limiter.Config) { c.Rate, c.Burst = rate, burst }
	a, _ := replica(t, s.bucket(t), mod)
	b, _ := replica(t, s.bucket(t), mod)

	var grants atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range []*limiter.Limiter{a, b, a, b, a, b} {
		wg.Go(func() {
			for ctx.Err() == nil {
				if l.Wait(ctx) == nil {
					grants.Add(1)
				}
			}
		})
	}
	waitFor(t, wg.Wait, "waiters to stop")
	// One budget: burst + rate*window, and one more for timing at the edges.
	// Two separate budgets would allow about twice that.
	got, limit := grants.Load(), int64(burst+rate*window.Seconds()+1)
	t.Logf("%d grants in %v for rate %v burst %d (limit %d)", got, window, rate, burst, limit)
	if got > limit {
		t.Fatalf("the pair was granted %d requests in %v, more than one budget (%d)", got, window, limit)
	}
	if got < limit/2 {
		t.Fatalf("the pair was granted only %d requests in %v; budget %d", got, window, limit)
	}
}

func TestKVUnreachableFallsBackAndRecovers(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, logs := replica(t, s.bucket(t), func(c *limiter.Config) { c.Rate, c.Burst = 1000, 10 })
	b, _ := replica(t, s.bucket(t), func(c *limiter.Config) { c.Rate, c.Burst = 1000, 10 })
	if err := a.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	s.shutdown()
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Wait with NATS down = %v, want local limiting", err)
		}
	}
	a.Observe(429, hdr("Retry-After", "30"))
	if d := a.Delay(); d < 25*time.Second {
		t.Fatalf("local block with NATS down: Delay() = %v", d)
	}
	if n := logs.Count("level=WARN"); n != 1 {
		t.Fatalf("%d warnings for one outage, want 1:\n%s", n, logs)
	}

	s.start() // same port and store dir; the clients reconnect
	// The block seen while NATS was down reaches b once KV works again
	// (a publishes it on its next write).
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs)
		}
	})
	eventually(t, "block published after recovery", func() bool {
		a.Observe(200, hdr("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "20"))
		return b.Delay() > 15*time.Second
	})
	eventually(t, "recovery logged", func() bool { return logs.Count("available again") == 1 })
}

// TestKVValuesAreBounded: a block, a window reset, a live-demand marker or a
// TAT read from KV (written by a replica with a skewed clock, or by anyone
// who can write the bucket) holds requests back at most LIMITER_MAX_BLOCK,
// hand-back delays included, and the value in KV is overwritten with the
// capped one so that it ends instead of lasting until a restart.
func TestKVValuesAreBounded(t *testing.T) {
	t.Parallel()
	far := time.Now().Add(437999 * time.Hour).UnixNano()
	cases := map[string]string{
		"block_until": fmt.Sprintf(`{"block_until":%d,"cause":"<script>"}`, far),
		"pace_reset":  fmt.Sprintf(`{"pace_reset":%d,"pace_left":0}`, far),
		"pace_next":   fmt.Sprintf(`{"pace_reset":%d,"pace_left":5,"pace_next":%d}`, time.Now().Add(time.Minute).UnixNano(), far),
		"tat":         fmt.Sprintf(`{"tat":%d}`, far),
	}
	const maxBlock = time.Hour
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startNATS(t)
			kv := s.bucket(t)
			probe, _ := replica(t, s.bucket(t), nil)
			key := "clickyid." + probe.ID()
			probe.Close()
			if _, err := kv.Put(context.Background(), key, []byte(value)); err != nil {
				t.Fatal(err)
			}
			l, _ := replica(t, kv, func(c *limiter.Config) { c.MaxBlock, c.MaxWait = maxBlock, time.Second })
			eventually(t, "the poisoned value reaching the limiter", func() bool { return l.Delay() > 10*time.Second || name == "tat" && l.Delay() > 0 })
			if d := l.Delay(); d > maxBlock {
				t.Errorf("Delay() = %v, beyond MaxBlock %v", d, maxBlock)
			}
			var be *limiter.BlockedError
			err := l.Wait(context.Background())
			switch {
			case name == "tat":
				// Capped at a burst ahead plus the tolerated skew: waited or refused briefly.
				if err != nil && (!errors.As(err, &be) || be.Wait > 10*time.Second) {
					t.Errorf("Wait = %v, want at most a few seconds", err)
				}
			case !errors.As(err, &be):
				t.Fatalf("Wait = %v, want a *BlockedError", err)
			case be.Wait > maxBlock || be.RetryAfter() > maxBlock || strings.Contains(be.Error(), "script"):
				t.Errorf("hand-back %v (%q), beyond MaxBlock %v or carrying the foreign cause", be.Wait, be.Error(), maxBlock)
			}
			limit := time.Now().Add(maxBlock + 10*time.Second).UnixNano()
			eventually(t, "KV value overwritten with the capped one", func() bool {
				e, err := kv.Get(context.Background(), key)
				if err != nil {
					return false
				}
				var st struct {
					BlockUntil int64 `json:"block_until"`
					PaceReset  int64 `json:"pace_reset"`
					PaceNext   int64 `json:"pace_next"`
					TAT        int64 `json:"tat"`
				}
				return json.Unmarshal(e.Value(), &st) == nil &&
					max(st.BlockUntil, st.PaceReset, st.PaceNext, st.TAT) < limit
			})
		})
	}
}
