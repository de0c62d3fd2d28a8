package backfill

import (
	"context"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// Queue is how many jobs wait in one place of CRMSYNC_JOBS: "intake" (not
// yet moved onto a lane by a worker) or a lane, "klicktipp/acme/backfill".
type Queue struct {
	Where string
	Jobs  int
}

// Queued returns how many jobs wait now where the jobs of the backfill
// recorded in rec go: its kind's intake subject and its credential's two
// lanes (live and backfill), omitting empty ones. The counts are of every
// job there, the backfill's and any other publisher's: a work queue cannot
// be read message by message without taking the messages. A job running
// counts where it was taken from (a work queue keeps a message until its
// job is acked).
func Queued(ctx context.Context, js jetstream.JetStream, rec *Record) ([]Queue, error) {
	s, err := js.Stream(ctx, jobs.JobsStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("crmsync.>"))
	if err != nil {
		return nil, err
	}
	api := rec.Target
	if rec.Kind == jobs.KindEmailValidate {
		api = jobs.APIClickyID
	}
	cred := jobs.Credential{API: api, Account: rec.Account}
	var out []Queue
	if n := info.State.Subjects[rec.Kind.Subject()]; n > 0 {
		out = append(out, Queue{Where: "intake", Jobs: int(n)})
	}
	for _, l := range jobs.LanesOf([]jobs.Credential{cred}) {
		if n := info.State.Subjects[l.Subject()]; n > 0 {
			out = append(out, Queue{Where: l.String(), Jobs: int(n)})
		}
	}
	return out, nil
}

// queuedLine formats the queues: "3 at the intake, 12 on lane klicktipp/acme/backfill".
func queuedLine(qs []Queue) string {
	parts := make([]string, 0, len(qs))
	for _, q := range qs {
		if q.Where == "intake" {
			parts = append(parts, strconv.Itoa(q.Jobs)+" at the intake (not yet moved onto a lane by a worker)")
		} else {
			parts = append(parts, strconv.Itoa(q.Jobs)+" on lane "+q.Where)
		}
	}
	return strings.Join(parts, ", ")
}
