package jobs

import "context"

// Handler carries out one kind of job. Handle processes the items of job
// that a has no outcome for yet, recording each with a.Succeed, a.Fail or
// a.Record, and returns:
//   - nil when every item has an outcome;
//   - Permanent(err) when no retry can help (bad credentials);
//   - RetryAfter(d, err) when the API says to wait longer than a slot should;
//   - any other error for a transient failure (retried with backoff).
//
// Items recorded before an error are kept: a retry skips them.
type Handler interface {
	Handle(ctx context.Context, job *Job, a *Attempt) error
}

// Router picks the handler for a job: by kind, target and account. An error
// (an account or API with no credentials) dead-letters the job with the
// error's text as the reason.
type Router interface {
	Route(job *Job) (Handler, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *Job, a *Attempt) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, job *Job, a *Attempt) error { return f(ctx, job, a) }

// RouterFunc adapts a function to Router.
type RouterFunc func(job *Job) (Handler, error)

// Route calls f.
func (f RouterFunc) Route(job *Job) (Handler, error) { return f(job) }
