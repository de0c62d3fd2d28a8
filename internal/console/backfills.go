package console

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/jobs"
)

// Backfill is one recorded backfill and what its results say so far.
type Backfill struct {
	Record  backfill.Record
	Summary *backfill.Summary
}

// Done returns the share of its jobs with an outcome, 0 to 1.
func (b Backfill) Done() float64 {
	if b.Record.Jobs <= 0 {
		return 0
	}
	return min(float64(b.Summary.Seen)/float64(b.Record.Jobs), 1)
}

// Percent is Done as a whole percentage, rounded down (100 only when
// every job has an outcome).
func (b Backfill) Percent() int { return int(b.Done() * 100) }

// Backfills reads every record in CRMSYNC_BACKFILLS and sums up each
// backfill from one pass over CRMSYNC_RESULTS and CRMSYNC_DLQ, with
// internal/backfill's Tracker (as `enqueue status` does), newest first.
// Each call reads both streams whole; a Console keeps a backfillIndex
// instead, which reads only what is new.
func Backfills(ctx context.Context, js jetstream.JetStream) ([]Backfill, error) {
	return (&backfillIndex{}).backfills(ctx, js)
}

// backfillIndex follows CRMSYNC_RESULTS and CRMSYNC_DLQ for every
// recorded backfill: a backfill seen for the first time is read from the
// start of both streams, then every call reads only the messages stored
// since the last. (A Tracker takes a message twice without counting it
// twice.) It is safe for concurrent use; calls are serialised.
type backfillIndex struct {
	mu       sync.Mutex
	trackers map[string]*backfill.Tracker
	next     map[string]uint64 // stream: the next sequence to read
}

func (x *backfillIndex) backfills(ctx context.Context, js jetstream.JetStream) ([]Backfill, error) {
	var recs []backfill.Record
	if err := eachValue(ctx, js, backfill.RecordBucket, func(_ string, v []byte) {
		var r backfill.Record
		if json.Unmarshal(v, &r) == nil && r.ID != "" {
			recs = append(recs, r)
		}
	}); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.trackers == nil {
		x.trackers, x.next = map[string]*backfill.Tracker{}, map[string]uint64{}
	}
	live := map[string]bool{}
	var fresh []*backfill.Tracker
	for _, r := range recs {
		live[r.ID] = true
		if x.trackers[r.ID] == nil {
			t := backfill.NewTracker(r.ID)
			x.trackers[r.ID] = t
			fresh = append(fresh, t)
		}
	}
	for id := range x.trackers {
		if !live[id] {
			delete(x.trackers, id) // its record expired
		}
	}
	all := make([]*backfill.Tracker, 0, len(x.trackers))
	for _, t := range x.trackers {
		all = append(all, t)
	}
	for _, stream := range []string{jobs.ResultsStream, jobs.DLQStream} {
		add := func(t *backfill.Tracker, m jetstream.Msg) bool {
			if stream == jobs.ResultsStream {
				return t.AddResult(m)
			}
			return t.AddDeadLetter(m)
		}
		feed := func(ts []*backfill.Tracker, from uint64) (uint64, error) {
			last := uint64(0)
			err := backfill.ReadStream(ctx, js, stream, nil, from, true, func(m jetstream.Msg) bool {
				if meta, err := m.Metadata(); err == nil {
					last = max(last, meta.Sequence.Stream)
				}
				for _, t := range ts {
					if add(t, m) {
						break
					}
				}
				return true
			})
			return last, err
		}
		if len(fresh) > 0 && x.next[stream] > 0 {
			if _, err := feed(fresh, 0); err != nil {
				return nil, err
			}
		}
		last, err := feed(all, x.next[stream])
		if err != nil {
			return nil, err
		}
		if last > 0 {
			x.next[stream] = last + 1
		}
	}
	out := make([]Backfill, len(recs))
	for i, r := range recs {
		s := x.trackers[r.ID].Summary(r.Jobs)
		s.Record = &recs[i]
		out[i] = Backfill{Record: r, Summary: s}
	}
	slices.SortFunc(out, func(a, b Backfill) int {
		return cmp.Or(b.Record.Created.Compare(a.Record.Created), cmp.Compare(a.Record.ID, b.Record.ID))
	})
	return out, nil
}

// FailedItem is an item of a backfill that failed for good, or was in a
// job that was dead-lettered.
type FailedItem struct {
	Job    string
	Email  string
	Reason string
}

// FailedItems lists the failed items of backfill id: from the latest
// result of each of its jobs, and from the dead letters of jobs without a
// result, in job order.
func FailedItems(ctx context.Context, js jetstream.JetStream, id string) ([]FailedItem, error) {
	type job struct {
		finished time.Time
		items    []FailedItem
		result   bool
	}
	byJob := map[int]*job{}
	get := func(n int) *job {
		j := byJob[n]
		if j == nil {
			j = &job{}
			byJob[n] = j
		}
		return j
	}
	if err := backfill.ReadStream(ctx, js, jobs.ResultsStream, nil, 0, true, func(m jetstream.Msg) bool {
		jid := m.Headers().Get(jobs.HeaderJobID)
		n, ok := backfill.JobNumber(id, jid)
		if !ok {
			return true
		}
		var r jobs.Result
		if json.Unmarshal(m.Data(), &r) != nil {
			return true
		}
		j := get(n)
		switch {
		case !j.result || r.Finished.After(j.finished):
			j.finished, j.items, j.result = r.Finished, nil, true
		case r.Finished.Before(j.finished):
			return true
		}
		for _, it := range r.Items {
			if !it.OK {
				j.items = append(j.items, FailedItem{Job: jid, Email: it.Email, Reason: it.Error})
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	if err := backfill.ReadStream(ctx, js, jobs.DLQStream, nil, 0, true, func(m jetstream.Msg) bool {
		jid := m.Headers().Get(jobs.HeaderJobID)
		n, ok := backfill.JobNumber(id, jid)
		if !ok {
			return true
		}
		j := get(n)
		if j.result && len(j.items) > 0 {
			return true
		}
		var body jobs.Job
		_ = json.Unmarshal(m.Data(), &body)
		reason := "job dead-lettered: " + cmp.Or(m.Headers().Get(jobs.HeaderError), "(no reason given)")
		j.items = nil
		for i := range body.Items() {
			j.items = append(j.items, FailedItem{Job: jid, Email: body.ItemEmail(i), Reason: reason})
		}
		return true
	}); err != nil {
		return nil, err
	}
	ns := make([]int, 0, len(byJob))
	for n := range byJob {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	var out []FailedItem
	for _, n := range ns {
		out = append(out, byJob[n].items...)
	}
	return out, nil
}
