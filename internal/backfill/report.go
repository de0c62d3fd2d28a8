package backfill

import (
	"cmp"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// Summary is what the results and dead letters of a backfill's jobs say.
type Summary struct {
	ID       string
	Expected int // jobs published; 0 when unknown (Status)
	Seen     int // jobs with an outcome
	Highest  int // highest job number with an outcome or a partial result

	Succeeded, Partial, Failed, DeadLettered int // jobs

	Items, ItemsSucceeded, ItemsFailed int

	// email.validate: ClickyID's verdicts on the validated emails, and the
	// reasons it gave for the invalid ones, most first.
	Valid, Invalid int
	InvalidReasons []Reason

	Reasons []Reason  // failed items by reason, most first
	Dead    []DeadJob // dead-lettered jobs, in job order
	Missing int       // jobs below Highest (or Expected) without an outcome yet
	Waiting []Span    // those jobs, by number, in runs

	// Record is the backfill's record (Status), nil when none was found;
	// then TotalUnknown is set and jobs still queued above Highest are
	// not counted in Missing.
	Record       *Record
	TotalUnknown bool

	// Queued is how many jobs wait where this backfill's jobs go, at the
	// intake and on its credential's lanes (Status, with a record and jobs
	// without a result); the counts include other publishers' jobs there.
	Queued []Queue
}

// Span is a run of job numbers, From to To inclusive.
type Span struct{ From, To int }

// Reason is a failure reason and how many items failed for it.
type Reason struct {
	Text  string
	Count int
}

// DeadJob is a dead-lettered job.
type DeadJob struct {
	ID     string
	Reason string
	Seq    uint64 // its dead letter's sequence in CRMSYNC_DLQ; 0 when gone (replayed)
}

// OK reports whether every expected job succeeded in full.
func (s *Summary) OK() bool {
	return s.Partial == 0 && s.Failed == 0 && s.DeadLettered == 0 && s.Missing == 0 && (s.Expected == 0 || s.Seen == s.Expected)
}

// Tracker collects results and dead letters of one backfill's jobs. It is
// safe for concurrent use.
type Tracker struct {
	id string
	mu sync.Mutex
	js map[int]*jobState
}

type jobState struct {
	finished time.Time
	parts    int
	seen     []bool
	got      int
	status   string
	dead     bool
	errText  string
	counts   jobs.Counts
	reasons  map[string]int
	valid    int
	invalid  int
	verdicts map[string]int // ClickyID's reason for each invalid email

	dlqReason string
	dlqSeq    uint64
	dlqItems  int
}

func (s *jobState) complete() bool { return s.parts > 0 && s.got == s.parts }
func (s *jobState) done() bool     { return s.complete() || s.dlqReason != "" }

// NewTracker tracks backfill id.
func NewTracker(id string) *Tracker { return &Tracker{id: id, js: map[int]*jobState{}} }

func (t *Tracker) state(n int) *jobState {
	s := t.js[n]
	if s == nil {
		s = &jobState{}
		t.js[n] = s
	}
	return s
}

// AddResult records a result message; others' results are ignored. It
// reports whether it was one of ours.
func (t *Tracker) AddResult(m jetstream.Msg) bool {
	n, ok := JobNumber(t.id, m.Headers().Get(jobs.HeaderJobID))
	if !ok {
		return false
	}
	var r jobs.Result
	if err := json.Unmarshal(m.Data(), &r); err != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(n)
	if !r.Finished.Equal(s.finished) {
		if r.Finished.Before(s.finished) {
			return true // an older outcome (before a replay)
		}
		dlq := *s
		*s = jobState{finished: r.Finished, dlqReason: dlq.dlqReason, dlqSeq: dlq.dlqSeq, dlqItems: dlq.dlqItems}
	}
	parts, part := max(r.Parts, 1), max(r.Part, 1)
	if s.parts == 0 {
		s.parts, s.seen = parts, make([]bool, parts+1)
	}
	if part > s.parts || s.seen[part] {
		return true
	}
	s.seen[part] = true
	s.got++
	s.status, s.dead, s.errText, s.counts = r.Status, r.DeadLettered, r.Error, r.Counts
	for _, it := range r.Items {
		switch {
		case !it.OK:
			if s.reasons == nil {
				s.reasons = map[string]int{}
			}
			s.reasons[NormalizeReason(it.Error)]++
		case it.IsValid != nil && *it.IsValid:
			s.valid++
		case it.IsValid != nil:
			s.invalid++
			if s.verdicts == nil {
				s.verdicts = map[string]int{}
			}
			s.verdicts[cmp.Or(it.Reason, "(no reason given)")]++
		}
	}
	return true
}

// AddDeadLetter records a dead letter; others' are ignored.
func (t *Tracker) AddDeadLetter(m jetstream.Msg) bool {
	n, ok := JobNumber(t.id, m.Headers().Get(jobs.HeaderJobID))
	if !ok {
		return false
	}
	var body struct {
		Contacts []json.RawMessage `json:"contacts"`
		Emails   []json.RawMessage `json:"emails"`
	}
	_ = json.Unmarshal(m.Data(), &body)
	var seq uint64
	if meta, err := m.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(n)
	s.dlqReason = m.Headers().Get(jobs.HeaderError)
	if s.dlqReason == "" {
		s.dlqReason = "dead-lettered"
	}
	s.dlqSeq, s.dlqItems = seq, len(body.Contacts)+len(body.Emails)
	return true
}

// Done returns how many of jobs 1..expected have an outcome.
func (t *Tracker) Done(expected int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := 0
	for n := 1; n <= expected; n++ {
		if s := t.js[n]; s != nil && s.done() {
			d++
		}
	}
	return d
}

// unpaired reports whether some done job has only its dead letter, or only
// a result saying it was dead-lettered: the other half is likely on its
// way on the other stream.
func (t *Tracker) unpaired() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.js {
		if s.dlqReason != "" && !s.complete() || s.complete() && s.dead && s.dlqReason == "" {
			return true
		}
	}
	return false
}

// Summary sums up what has been recorded; expected is the number of jobs
// published (0 when unknown).
func (t *Tracker) Summary(expected int) *Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := &Summary{ID: t.id, Expected: expected}
	reasons, verdicts := map[string]int{}, map[string]int{}
	ns := make([]int, 0, len(t.js))
	for n := range t.js {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	for _, n := range ns {
		s := t.js[n]
		sum.Highest = max(sum.Highest, n)
		switch {
		case s.complete():
			sum.Seen++
			switch {
			case s.dead:
				sum.DeadLettered++
				sum.Dead = append(sum.Dead, DeadJob{ID: JobID(t.id, n), Reason: cmp.Or(s.errText, s.dlqReason), Seq: s.dlqSeq})
			case s.status == jobs.StatusSucceeded:
				sum.Succeeded++
			case s.status == jobs.StatusPartial:
				sum.Partial++
			default:
				sum.Failed++
			}
			sum.Items += s.counts.Total
			sum.ItemsSucceeded += s.counts.Succeeded
			sum.ItemsFailed += s.counts.Failed
			for r, c := range s.reasons {
				reasons[r] += c
			}
			sum.Valid += s.valid
			sum.Invalid += s.invalid
			for r, c := range s.verdicts {
				verdicts[r] += c
			}
		case s.dlqReason != "":
			sum.Seen++
			sum.DeadLettered++
			sum.Dead = append(sum.Dead, DeadJob{ID: JobID(t.id, n), Reason: s.dlqReason, Seq: s.dlqSeq})
			sum.Items += s.dlqItems
			sum.ItemsFailed += s.dlqItems
			reasons["job dead-lettered: "+NormalizeReason(s.dlqReason)] += s.dlqItems
		}
	}
	sum.Missing = max(expected, sum.Highest) - sum.Seen
	for n := 1; n <= max(expected, sum.Highest); n++ {
		if s := t.js[n]; s != nil && s.done() {
			continue
		}
		if k := len(sum.Waiting); k > 0 && sum.Waiting[k-1].To == n-1 {
			sum.Waiting[k-1].To = n
		} else {
			sum.Waiting = append(sum.Waiting, Span{n, n})
		}
	}
	sum.Reasons = byCount(reasons)
	sum.InvalidReasons = byCount(verdicts)
	return sum
}

// byCount lists the reasons, most frequent first (ties by text).
func byCount(m map[string]int) []Reason {
	out := make([]Reason, 0, len(m))
	for r, c := range m {
		out = append(out, Reason{Text: r, Count: c})
	}
	slices.SortFunc(out, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Text, b.Text))
	})
	return out
}

var (
	quoted  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	emailRe = regexp.MustCompile(`\S+@\S+`)
)

// NormalizeReason makes item errors that differ only in the item (a
// quoted value, an email) group together.
func NormalizeReason(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	s = quoted.ReplaceAllString(s, `"…"`)
	return emailRe.ReplaceAllString(s, "<email>")
}

// FollowOptions tune Follow.
type FollowOptions struct {
	// ResultsFrom and DLQFrom are the sequences of CRMSYNC_RESULTS and
	// CRMSYNC_DLQ to start reading at (see NextSeq, taken before
	// publishing); zero reads the stream from the start (needed when some
	// jobs were duplicates of an earlier run).
	ResultsFrom, DLQFrom uint64
	// Progress is called with the number of finished jobs when it changes.
	Progress func(done int)
	// Grace is how long to wait, once every job has an outcome, for the
	// result of a job seen only as a dead letter, or for the dead letter
	// (its DLQ sequence) of a job whose result says it was dead-lettered
	// (none comes when it was replayed or purged meanwhile); default 2s.
	Grace time.Duration
}

// Follow reads the results and dead letters of backfill id (kind) until
// each of its expected jobs has an outcome, or ctx is done (then the
// summary so far is returned with ctx's error).
func Follow(ctx context.Context, js jetstream.JetStream, id string, kind jobs.Kind, expected int, o FollowOptions) (*Summary, error) {
	if o.Grace <= 0 {
		o.Grace = 2 * time.Second
	}
	t := NewTracker(id)
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Go(func() {
		errs <- ReadStream(rctx, js, jobs.ResultsStream, []string{jobs.ResultsPrefix + string(kind)}, o.ResultsFrom, false, func(m jetstream.Msg) bool {
			if t.AddResult(m) {
				poke()
			}
			return true
		})
	})
	wg.Go(func() {
		errs <- ReadStream(rctx, js, jobs.DLQStream, []string{jobs.DeadLetterSubject(kind)}, o.DLQFrom, false, func(m jetstream.Msg) bool {
			if t.AddDeadLetter(m) {
				poke()
			}
			return true
		})
	})
	defer wg.Wait()
	defer cancel()
	last := -1
	var grace <-chan time.Time
	for {
		d := t.Done(expected)
		if d != last && o.Progress != nil {
			o.Progress(d)
		}
		last = d
		if d >= expected {
			if !t.unpaired() {
				break
			}
			if grace == nil {
				tm := time.NewTimer(o.Grace)
				defer tm.Stop()
				grace = tm.C
			}
		}
		select {
		case <-changed:
			continue
		case <-grace:
		case err := <-errs:
			if err != nil {
				return t.Summary(expected), err
			}
			continue
		case <-ctx.Done():
			return t.Summary(expected), ctx.Err()
		}
		break
	}
	return t.Summary(expected), nil
}

// Status reads every result and dead letter stored now for backfill id.
// With rec (see LoadRecord) it expects rec.Jobs jobs, so jobs still queued
// count as missing; with rec nil the total is unknown and the summary says
// so (TotalUnknown).
func Status(ctx context.Context, js jetstream.JetStream, id string, rec *Record) (*Summary, error) {
	t := NewTracker(id)
	if err := ReadStream(ctx, js, jobs.ResultsStream, nil, 0, true, func(m jetstream.Msg) bool { t.AddResult(m); return true }); err != nil {
		return nil, err
	}
	if err := ReadStream(ctx, js, jobs.DLQStream, nil, 0, true, func(m jetstream.Msg) bool { t.AddDeadLetter(m); return true }); err != nil {
		return nil, err
	}
	if rec == nil {
		sum := t.Summary(0)
		sum.TotalUnknown = true
		return sum, nil
	}
	sum := t.Summary(rec.Jobs)
	sum.Record = rec
	if sum.Missing > 0 {
		// Where they wait; a stream that cannot be read just omits the line.
		sum.Queued, _ = Queued(ctx, js, rec)
	}
	return sum, nil
}
