package console

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
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
func Backfills(ctx context.Context, js jetstream.JetStream) ([]Backfill, error) {
	var recs []backfill.Record
	if err := eachValue(ctx, js, backfill.RecordBucket, func(_ string, v []byte) {
		var r backfill.Record
		if json.Unmarshal(v, &r) == nil && r.ID != "" {
			recs = append(recs, r)
		}
	}); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	trackers := make([]*backfill.Tracker, len(recs))
	for i, r := range recs {
		trackers[i] = backfill.NewTracker(r.ID)
	}
	if err := backfill.ReadStream(ctx, js, jobs.ResultsStream, nil, 0, true, func(m jetstream.Msg) bool {
		for _, t := range trackers {
			if t.AddResult(m) {
				break
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	if err := backfill.ReadStream(ctx, js, jobs.DLQStream, nil, 0, true, func(m jetstream.Msg) bool {
		for _, t := range trackers {
			if t.AddDeadLetter(m) {
				break
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	out := make([]Backfill, len(recs))
	for i, r := range recs {
		s := trackers[i].Summary(r.Jobs)
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
