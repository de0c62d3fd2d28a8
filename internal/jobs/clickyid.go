package jobs

import (
	"context"

	"crmsync/internal/apis/clickyid"
)

// ClickyIDValidate handles email.validate: POST /validate/bulk with at most
// clickyid.MaxBulk (100) pending emails a call; each email's isValid,
// reason, matchedDomain and targetGroup go into the result as ClickyID
// returned them.
type ClickyIDValidate struct {
	Client *clickyid.Client
}

var _ Handler = (*ClickyIDValidate)(nil)

// Handle validates the pending emails. A 4xx for a whole call (an unknown
// target group or offer, a missing scope) dead-letters the job with the
// API's reason at once, without spending more of the hourly budget on calls
// that cannot succeed; the emails validated before it stay in the result.
func (h *ClickyIDValidate) Handle(ctx context.Context, job *Job, a *Attempt) error {
	pending := a.Pending()
	for start := 0; start < len(pending); start += clickyid.MaxBulk {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		chunk := pending[start:min(start+clickyid.MaxBulk, len(pending))]
		req := clickyid.BulkRequest{TargetGroupIDs: job.TargetGroupIDs, OfferIDs: job.OfferIDs, Mode: job.Mode}
		for _, i := range chunk {
			req.Emails = append(req.Emails, job.Emails[i])
		}
		var results []clickyid.Result
		err := a.Call(ctx, func(ctx context.Context) error {
			var verr error
			results, verr = h.Client.ValidateBulk(ctx, req)
			return verr
		})
		if ItemFailure(err) {
			// ClickyID reports each email's problem inside its 200
			// answer; a 400 or 422 refuses the request itself (an
			// unknown target group or offer, a bad mode), the same for
			// every email: dead-letter the job with the API's reason, to
			// be replayed once the job is fixed.
			return Permanent(err)
		}
		if err != nil {
			return JobError(err)
		}
		// ValidateBulk answers each requested email in request order.
		for k, i := range chunk {
			if k >= len(results) {
				a.Fail(i, errMissingAnswer)
				continue
			}
			r := &results[k]
			valid := r.IsValid
			a.Record(i, ItemResult{OK: true, IsValid: &valid, Reason: r.Reason, MatchedDomain: r.MatchedDomain, TargetGroup: r.TargetGroup})
		}
	}
	return nil
}
