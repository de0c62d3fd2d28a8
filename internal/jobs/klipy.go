package jobs

import (
	"context"
	"maps"

	"crmsync/internal/apis/klipy"
)

// KlipyUpsert handles contact.upsert for target klipy: PUT /people per
// contact, passing every key of the contact object through.
type KlipyUpsert struct {
	Client *klipy.Client
}

var _ Handler = (*KlipyUpsert)(nil)

// Handle upserts the pending contacts and records each person's id.
func (h *KlipyUpsert) Handle(ctx context.Context, job *Job, a *Attempt) error {
	for _, i := range a.Pending() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c := job.Contacts[i]
		p := klipy.Person{}
		maps.Copy(p, c.Person)
		p["email"] = c.Email
		var res *klipy.PersonResult
		err := a.Call(ctx, func(ctx context.Context) error {
			var perr error
			res, perr = h.Client.UpsertPerson(ctx, p)
			return perr
		})
		switch {
		case err == nil:
			a.Succeed(i, ItemResult{PersonID: res.ID})
		case ItemFailure(err):
			a.Fail(i, err)
		default:
			return JobError(err)
		}
	}
	return nil
}
