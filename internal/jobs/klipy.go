package jobs

import (
	"context"

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
		person, err := c.Person()
		if err != nil {
			a.Fail(i, err) // only a contact decoded from invalid JSON
			continue
		}
		p := klipy.Person(person)
		if p == nil {
			p = klipy.Person{}
		}
		p["email"] = c.Email
		var res *klipy.PersonResult
		err = a.Call(ctx, func(ctx context.Context) error {
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
