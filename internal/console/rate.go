package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// maxRateResults bounds the results read for one Throughput: beyond it
// the figures are lower bounds (Capped).
const maxRateResults = 5000

// Throughput is what finished in a recent window, per API and account.
type Throughput struct {
	Since  time.Time
	Jobs   int
	Items  int
	Failed int // items that failed
	By     map[APIAccount]*Counts
	Capped bool // more results than maxRateResults: the figures are lower bounds
}

// APIAccount is an API and an account name.
type APIAccount struct{ API, Account string }

// Counts are finished jobs and items.
type Counts struct{ Jobs, Items, Failed int }

// ResultAPI returns the API a result's job used.
func ResultAPI(r *jobs.Result) string {
	if r.Kind == jobs.KindEmailValidate {
		return "clickyid"
	}
	return cmp.Or(r.Target, "unknown")
}

// ThroughputSince sums the results stored in CRMSYNC_RESULTS since since.
func ThroughputSince(ctx context.Context, js jetstream.JetStream, since time.Time) (*Throughput, error) {
	t := &Throughput{Since: since, By: map[APIAccount]*Counts{}}
	s, err := js.Stream(ctx, jobs.ResultsStream)
	if err != nil {
		return t, fmt.Errorf("stream %s: %w", jobs.ResultsStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return t, fmt.Errorf("stream %s: %w", jobs.ResultsStream, err)
	}
	if info.State.Msgs == 0 || info.State.LastTime.Before(since) {
		return t, nil
	}
	start := since
	cons, err := js.OrderedConsumer(ctx, jobs.ResultsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return t, fmt.Errorf("stream %s: %w", jobs.ResultsStream, err)
	}
	read := 0
	for read < maxRateResults {
		batch, err := cons.Fetch(min(256, maxRateResults-read), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return t, fmt.Errorf("stream %s: %w", jobs.ResultsStream, err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			read++
			var r jobs.Result
			if json.Unmarshal(m.Data(), &r) == nil {
				k := APIAccount{ResultAPI(&r), cmp.Or(r.Account, jobs.DefaultAccount)}
				c := t.By[k]
				if c == nil {
					c = &Counts{}
					t.By[k] = c
				}
				if r.Part <= 1 {
					c.Jobs++
					t.Jobs++
				}
				c.Items += r.Counts.Total
				c.Failed += r.Counts.Failed
				t.Items += r.Counts.Total
				t.Failed += r.Counts.Failed
			}
			if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return t, fmt.Errorf("stream %s: %w", jobs.ResultsStream, err)
		}
		if last || n == 0 {
			return t, nil
		}
	}
	t.Capped = true
	return t, nil
}

// StreamCounts are the message counts of the three streams and the dead
// letters by subject.
type StreamCounts struct {
	Jobs, Results, DeadLetters uint64
	DeadBySubject              map[string]uint64
}

// Streams reads the streams' counts.
func Streams(ctx context.Context, js jetstream.JetStream) (StreamCounts, error) {
	var c StreamCounts
	var errs []error
	for _, p := range []struct {
		name string
		n    *uint64
	}{{jobs.JobsStream, &c.Jobs}, {jobs.ResultsStream, &c.Results}} {
		s, err := js.Stream(ctx, p.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream %s: %w", p.name, err))
			continue
		}
		*p.n = s.CachedInfo().State.Msgs
	}
	s, err := js.Stream(ctx, jobs.DLQStream)
	if err != nil {
		errs = append(errs, fmt.Errorf("stream %s: %w", jobs.DLQStream, err))
		return c, errors.Join(errs...)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(jobs.DLQSubjects))
	if err != nil {
		errs = append(errs, fmt.Errorf("stream %s: %w", jobs.DLQStream, err))
		return c, errors.Join(errs...)
	}
	c.DeadLetters, c.DeadBySubject = info.State.Msgs, info.State.Subjects
	return c, errors.Join(errs...)
}
