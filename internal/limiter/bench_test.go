package limiter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/broker/brokertest"
	"crmsync/internal/limiter"
)

// countingKV counts the KV operations a limiter makes.
type countingKV struct {
	jetstream.KeyValue
	ops atomic.Int64
}

func (c *countingKV) Create(ctx context.Context, key string, v []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	c.ops.Add(1)
	return c.KeyValue.Create(ctx, key, v, opts...)
}

func (c *countingKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	c.ops.Add(1)
	return c.KeyValue.Update(ctx, key, v, rev)
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.ops.Add(1)
	return c.KeyValue.Get(ctx, key)
}

// benchKV connects to srv (a connection of its own, as a replica's) and
// returns the limits bucket, counted.
func benchKV(b *testing.B, srv *brokertest.Server) *countingKV {
	_, js := srv.Connect(b)
	kv, err := limiter.EnsureBucket(context.Background(), js, 1)
	if err != nil {
		b.Fatal(err)
	}
	return &countingKV{KeyValue: kv}
}

// BenchmarkSharedGrants measures grants through one credential shared in
// KV (embedded JetStream on this machine), with a budget far above what is
// asked so that only the grant machinery counts: requests per second and KV
// operations per request, for 1 and 16 concurrent callers in one replica,
// and 8 callers in each of two replicas (racing for the same key).
//
//	go test -run '^$' -bench SharedGrants -benchtime 3s ./internal/limiter/
func BenchmarkSharedGrants(b *testing.B) {
	for _, tc := range []struct{ replicas, callers int }{{1, 1}, {1, 16}, {2, 8}} {
		b.Run(fmt.Sprintf("replicas=%d/callers=%d", tc.replicas, tc.callers), func(b *testing.B) {
			srv := brokertest.Start(b)
			var kvs []*countingKV
			var ls []*limiter.Limiter
			for range tc.replicas {
				kv := benchKV(b, srv)
				l, err := limiter.New(limiter.Config{API: "bench", Credential: "k", Rate: 1e6, Burst: 1000, KV: kv,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				kvs, ls = append(kvs, kv), append(ls, l)
			}
			ops := func() (n int64) {
				for _, kv := range kvs {
					n += kv.ops.Load()
				}
				return n
			}
			ctx := context.Background()
			var next atomic.Int64
			b.ResetTimer()
			begin, before := time.Now(), ops()
			var wg sync.WaitGroup
			for _, l := range ls {
				for range tc.callers {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							if err := l.Wait(ctx); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "req/s")
			b.ReportMetric(float64(ops()-before)/float64(b.N), "kv_ops/req")
		})
	}
}

// BenchmarkKVUpdateOneKey measures compare-and-set writes per second on
// one key of the limits bucket (embedded JetStream, file storage, on this
// machine): the ceiling of grants against one credential's key when every
// grant is one write.
//
//	go test -run '^$' -bench KVUpdateOneKey -benchtime 3s ./internal/limiter/
func BenchmarkKVUpdateOneKey(b *testing.B) {
	kv := benchKV(b, brokertest.Start(b))
	ctx := context.Background()
	rev, err := kv.Create(ctx, "bench.key", []byte(`{"tat":1}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	begin := time.Now()
	for range b.N {
		if rev, err = kv.Update(ctx, "bench.key", []byte(`{"tat":2}`), rev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "writes/s")
}
