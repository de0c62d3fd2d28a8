package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkFleetKV measures what the shared rate-limit state costs the
// NATS servers a fleet runs on: compare-and-set writes per second into one
// KV bucket on a separate nats-server process (R1) and on a three-node
// cluster on loopback (R3), as the limiter writes CRMSYNC_LIMITS: on one key
// from one writer (the latency of a grant), on one key from 16 writers that
// race (a hot credential; conflicts/write is how often a writer lost and
// read again), and on 1,024 keys from 16 writers (many credentials: the
// bucket's stream is the bound). A writer writes on the last revision it
// saw, as the limiter does with its watch. Run it with
//
//	go test -short -run '^$' -bench FleetKV -benchtime 2s ./internal/reliability
//
// (-short skips building the worker; the benchmark needs only nats-server).
func BenchmarkFleetKV(b *testing.B) {
	for _, replicas := range []int{1, 3} {
		b.Run(fmt.Sprintf("R%d", replicas), func(b *testing.B) {
			var js jetstream.JetStream
			if replicas == 1 {
				n := startNATS(b, "", "")
				_, js = connect(b, n.url())
			} else {
				_, js = startCluster(b, 3)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "FLEET_BENCH", History: 1, Replicas: replicas})
			cancel()
			if err != nil {
				b.Fatalf("bucket: %v", err)
			}
			record := []byte(`{"tat":"2026-12-01T16:00:00.000000000Z","block":"0001-01-01T00:00:00Z","remaining":17,"reset":"2026-12-01T16:01:00Z"}`)
			// What every replica's lane scan asks for each lane every 5 s.
			b.Run("consumer info, 16 callers", func(b *testing.B) {
				benchConsumerInfo(b, js, replicas, 16)
			})
			for _, c := range []struct {
				name          string
				keys, writers int
			}{{"one key, 1 writer", 1, 1}, {"one key, 16 writers", 1, 16}, {"1024 keys, 16 writers", 1024, 16}} {
				b.Run(c.name, func(b *testing.B) {
					benchCAS(b, kv, record, c.keys, c.writers)
				})
			}
		})
	}
}

// benchCAS runs b.N successful compare-and-set writes spread over keys,
// from writers goroutines, each re-reading the key after a lost race.
func benchCAS(b *testing.B, kv jetstream.KeyValue, record []byte, keys, writers int) {
	ctx := context.Background()
	for k := range keys {
		if _, err := kv.Put(ctx, fmt.Sprintf("bench.k%d", k), record); err != nil {
			b.Fatal(err)
		}
	}
	var next, lost atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	begin := time.Now()
	for w := range writers {
		wg.Go(func() {
			// Like the limiter, which knows each key's revision from its
			// watch: write on the last revision seen, read again only
			// after losing a race.
			revs := map[string]uint64{}
			for j := 0; ; j++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				// With more keys than writers each writer keeps to its own
				// (one credential's jobs in one replica); with one key all
				// race for it.
				key := fmt.Sprintf("bench.k%d", (w+writers*j)%keys)
				for attempt := 0; ; attempt++ {
					rev, ok := revs[key]
					if !ok {
						e, err := kv.Get(ctx, key)
						if err != nil {
							errs <- err
							return
						}
						rev = e.Revision()
					}
					nrev, err := kv.Update(ctx, key, record, rev)
					if err == nil {
						revs[key] = nrev
						break
					}
					var apiErr *jetstream.APIError
					if !errors.As(err, &apiErr) || attempt > 1000 ||
						(apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence && apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
						errs <- err
						return
					}
					delete(revs, key)
					lost.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(lost.Load())/float64(b.N), "conflicts/write")
}

// benchConsumerInfo asks for one durable consumer's info b.N times from
// callers goroutines.
func benchConsumerInfo(b *testing.B, js jetstream.JetStream, replicas, callers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FLEET_BENCH_LANES", Subjects: []string{"fleetbench.>"}, Replicas: replicas, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		b.Fatal(err)
	}
	c, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "lane", FilterSubject: "fleetbench.lane", AckPolicy: jetstream.AckExplicitPolicy, Replicas: replicas})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	b.ResetTimer()
	begin := time.Now()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				ictx, icancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := c.Info(ictx)
				icancel()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "infos/s")
}
