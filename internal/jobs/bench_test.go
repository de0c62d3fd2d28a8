package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"

	"crmsync/internal/apis"
	"crmsync/internal/apis/apistest"
	"crmsync/internal/apis/klicktipp"
	"crmsync/internal/apis/klicktipp/klicktipptest"
	"crmsync/internal/jobs"
)

// The throughput benchmarks compare the runner (embedded JetStream, pool,
// checkpoints, results) with a bare loop making the same KlickTipp calls
// (login, one POST /subscriber per contact, logout per job) with the same
// concurrency against the same fake. Each reports items/s; the ratio of the
// two is the runner's cost. Run:
//
//	go test -run=^$ -bench=Throughput -count=3 ./internal/jobs
//
// Each iteration is one batch of jobs.

type benchCase struct {
	name    string
	latency time.Duration
	slots   int
	jobs    int
	per     int
}

var benchCases = []benchCase{
	{"zero-latency/8-slots", 0, 8, 40, 100},
	{"50ms-latency/32-slots", 50 * time.Millisecond, 32, 32, 50},
}

func BenchmarkThroughputRunner(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			bn := setup(b, opts{cfg: jobs.Config{Concurrency: bc.slots, CheckpointEvery: time.Second, AckWait: 30 * time.Second}})
			bn.kt.SetFaults(apistest.Faults{Latency: bc.latency}, 1)
			bn.start(b)
			follow := bn.follow(b, jobs.ResultsStream)
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				b.StopTimer()
				for j := 0; j < bc.jobs; j++ {
					bn.publish(b, "crmsync.jobs.contact.upsert", upsert(fmt.Sprintf("b%d-%d", it, j), "klicktipp", benchContacts(it, j, bc.per)), "")
				}
				b.StartTimer()
				follow.next(b, bc.jobs, 5*time.Minute)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*bc.jobs*bc.per)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

func BenchmarkThroughputBareLoop(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			kt := klicktipptest.NewServer()
			b.Cleanup(kt.Close)
			kt.SetFaults(apistest.Faults{Latency: bc.latency}, 1)
			hc := apis.NewHTTPClient(10 * time.Second)
			b.Cleanup(hc.CloseIdleConnections)
			c, err := klicktipp.New(klicktipp.Config{BaseURL: kt.URL, Username: klicktipptest.Username, Password: klicktipptest.Password, HTTPClient: hc})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				p := pool.New().WithMaxGoroutines(bc.slots).WithErrors()
				var mu sync.Mutex
				tags := map[string]int64{}
				for j := 0; j < bc.jobs; j++ {
					cs := benchContacts(it, j, bc.per)
					p.Go(func() error {
						s, err := c.Login(ctx)
						if err != nil {
							return err
						}
						defer s.Logout(ctx)
						all, err := s.Tags(ctx) // the runner resolves tag names once per job too
						if err != nil {
							return err
						}
						mu.Lock()
						for id, n := range all {
							tags[n] = id
						}
						id := tags["newsletter"]
						mu.Unlock()
						for _, ct := range cs {
							if _, err := s.Subscribe(ctx, klicktipp.SubscribeRequest{Email: ct["email"].(string), TagID: id, Fields: ct["fields"].(map[string]string)}); err != nil {
								return err
							}
						}
						return nil
					})
				}
				if err := p.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*bc.jobs*bc.per)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

func benchContacts(it, job, n int) []map[string]any {
	out := contacts(fmt.Sprintf("b%d-%d-", it, job), n)
	return out
}
