package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
	"crmsync/internal/limiter"
)

// LanePrefix is the subject prefix of per-lane subjects
// (crmsync.lanes.<target>.<account>.<live|backfill>). A consumer whose
// filter has this shape is attributed to its API and account; any other
// consumer on CRMSYNC_JOBS (the intake consumer crmsync-worker) is a lane
// of every API and account.
const LanePrefix = "crmsync.lanes."

// Lane is one durable consumer on CRMSYNC_JOBS.
type Lane struct {
	Name        string
	Filter      string // its filter subjects, comma-separated
	API         string // "" when the lane is not one credential's
	Account     string
	Priority    string // live, backfill or ""
	Pending     uint64 // waiting, not delivered yet
	InFlight    int    // delivered, not acked
	Redelivered int
	Waiting     int // pull requests waiting (replicas asking for work)
	Paused      bool
	// Oldest is when the oldest unfinished message of the lane was
	// stored; zero when the lane is empty.
	Oldest time.Time
}

// Lanes lists the consumers on CRMSYNC_JOBS, sorted by API, account,
// priority and name.
func Lanes(ctx context.Context, js jetstream.JetStream) ([]Lane, error) {
	s, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", jobs.JobsStream, err)
	}
	var out []Lane
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		out = append(out, lane(ctx, s, ci))
	}
	if err := l.Err(); err != nil {
		return out, fmt.Errorf("consumers of %s: %w", jobs.JobsStream, err)
	}
	slices.SortFunc(out, func(a, b Lane) int {
		return cmp.Or(cmp.Compare(a.API, b.API), cmp.Compare(a.Account, b.Account), cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func lane(ctx context.Context, s jetstream.Stream, ci *jetstream.ConsumerInfo) Lane {
	filters := ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		filters = append([]string{ci.Config.FilterSubject}, filters...)
	}
	if len(filters) == 0 {
		filters = []string{jobs.JobsSubjects}
	}
	ln := Lane{
		Name: ci.Name, Filter: strings.Join(filters, ", "),
		Pending: ci.NumPending, InFlight: ci.NumAckPending, Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting,
		Paused: ci.Paused,
	}
	if len(filters) == 1 {
		ln.API, ln.Account, ln.Priority = parseLane(filters[0])
	}
	if ln.Pending+uint64(ln.InFlight) > 0 {
		for _, f := range filters {
			m, err := s.GetMsg(ctx, ci.AckFloor.Stream+1, jetstream.WithGetMsgSubject(f))
			if err == nil && (ln.Oldest.IsZero() || m.Time.Before(ln.Oldest)) {
				ln.Oldest = m.Time
			}
		}
	}
	return ln
}

// parseLane reads crmsync.lanes.<target>.<account>.<priority>; target
// "clickyid" (or a kind's name for email.validate) is the API.
func parseLane(subject string) (api, account, priority string) {
	rest, ok := strings.CutPrefix(subject, LanePrefix)
	if !ok {
		return "", "", ""
	}
	p := strings.Split(rest, ".")
	if len(p) < 2 || p[0] == "*" || p[0] == ">" {
		return "", "", ""
	}
	api = p[0]
	if api == "email" || api == "validate" {
		api = "clickyid"
	}
	if len(p) >= 2 && p[1] != "*" && p[1] != ">" {
		account = p[1]
	}
	if len(p) >= 3 && p[2] != "*" && p[2] != ">" {
		priority = p[2]
	}
	return api, account, priority
}

// Credential names one rate-limited credential: its key in CRMSYNC_LIMITS
// ("<api>.<credential id>", see limiter.Limiter.ID) and the accounts that
// use it. Rate and Burst are its configured budget (0 when unknown).
type Credential struct {
	Key      string
	API      string
	Accounts []string
	Rate     float64
	Burst    int
}

// Limit is one credential's state in CRMSYNC_LIMITS.
type Limit struct {
	Key      string
	API      string
	ID       string   // the hashed credential id (never the credential)
	Accounts []string // from the Credentials given; empty when unknown here
	Rate     float64
	Burst    int
	// Left is the fleet's tokens available now, of Burst; -1 when the
	// budget is not known here.
	Left float64
	// BlockedUntil is set while the API blocks the credential; Cause says
	// why (429, retry_after, remaining_zero).
	BlockedUntil time.Time
	Cause        string
	// PaceLeft requests are left in the API's window ending at PaceReset
	// (zero time: no window known).
	PaceLeft  int64
	PaceReset time.Time
}

// Used returns the share of the burst spent, 0 to 1; 0 when unknown.
func (l Limit) Used() float64 {
	if l.Left < 0 || l.Burst <= 0 {
		return 0
	}
	return 1 - l.Left/float64(l.Burst)
}

// limitRecord is the JSON of a CRMSYNC_LIMITS value as internal/limiter
// writes it (a test writes it with a real limiter and reads it here).
type limitRecord struct {
	TAT        int64  `json:"tat,omitempty"`
	BlockUntil int64  `json:"block_until,omitempty"`
	Cause      string `json:"cause,omitempty"`
	PaceReset  int64  `json:"pace_reset,omitempty"`
	PaceLeft   int64  `json:"pace_left,omitempty"`
}

// Limits reads every credential's state in CRMSYNC_LIMITS at now, labelled
// with creds where they match. No bucket means no limits yet.
func Limits(ctx context.Context, js jetstream.JetStream, creds []Credential, now time.Time) ([]Limit, error) {
	byKey := map[string]Credential{}
	for _, c := range creds {
		byKey[c.Key] = c
	}
	var out []Limit
	err := eachValue(ctx, js, limiter.Bucket, func(key string, v []byte) {
		var rec limitRecord
		if json.Unmarshal(v, &rec) != nil {
			return
		}
		api, id, _ := strings.Cut(key, ".")
		c := byKey[key]
		l := Limit{Key: key, API: api, ID: id, Accounts: c.Accounts, Rate: c.Rate, Burst: c.Burst, Left: -1, Cause: rec.Cause}
		if c.Rate > 0 && c.Burst > 0 {
			interval := float64(time.Second) / c.Rate
			ahead := max(float64(rec.TAT-now.UnixNano()), 0)
			l.Left = min(max(float64(c.Burst)-ahead/interval, 0), float64(c.Burst))
		}
		if rec.BlockUntil > now.UnixNano() {
			l.BlockedUntil = time.Unix(0, rec.BlockUntil).UTC()
			if l.Left > 0 {
				l.Left = 0
			}
		} else {
			l.Cause = ""
		}
		if rec.PaceReset > now.UnixNano() {
			l.PaceLeft, l.PaceReset = rec.PaceLeft, time.Unix(0, rec.PaceReset).UTC()
		}
		out = append(out, l)
	})
	slices.SortFunc(out, func(a, b Limit) int {
		return cmp.Or(cmp.Compare(a.API, b.API), cmp.Compare(strings.Join(a.Accounts, ","), strings.Join(b.Accounts, ",")), cmp.Compare(a.ID, b.ID))
	})
	return out, err
}

// Replicas returns the heartbeats in CRMSYNC_REPLICAS, newest first.
func Replicas(ctx context.Context, js jetstream.JetStream) ([]Replica, error) {
	var out []Replica
	err := eachValue(ctx, js, ReplicaBucket, func(_ string, v []byte) {
		var r Replica
		if json.Unmarshal(v, &r) == nil {
			out = append(out, r)
		}
	})
	slices.SortFunc(out, func(a, b Replica) int { return cmp.Or(b.Started.Compare(a.Started), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

// eachValue calls fn with every key and value of bucket; a missing bucket
// has none.
func eachValue(ctx context.Context, js jetstream.JetStream, bucket string, fn func(key string, value []byte)) error {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	keys, err := kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kv %s: %w", bucket, err)
	}
	defer func() { _ = keys.Stop() }()
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	for _, k := range names {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kv %s: get %s: %w", bucket, k, err)
		}
		fn(k, e.Value())
	}
	return nil
}
