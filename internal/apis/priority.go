package apis

import "context"

type backfillKey struct{}

// WithBackfill marks ctx as carrying a backfill job's requests. Limiters
// give requests under such a context the rate budget only after live ones
// (requests whose context is not marked), in every replica.
func WithBackfill(ctx context.Context) context.Context {
	return context.WithValue(ctx, backfillKey{}, true)
}

// IsBackfill reports whether ctx was marked by WithBackfill. An unmarked
// context is live.
func IsBackfill(ctx context.Context) bool {
	v, _ := ctx.Value(backfillKey{}).(bool)
	return v
}
