package main

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/jobs"
)

// dlqEvery is how often the dead-letter depth is sampled by default.
const dlqEvery = 15 * time.Second

// sampleDeadLetters sets crmsync_dead_letter_depth to the number of
// messages in CRMSYNC_DLQ, at once and then every m.dlqEvery, until ctx is
// done. A failed lookup (NATS away) keeps the last value.
func (m *Main) sampleDeadLetters(ctx context.Context, js jetstream.JetStream) {
	t := time.NewTicker(m.dlqEvery)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if s, err := js.Stream(sctx, jobs.DLQStream); err == nil {
			m.metrics.DeadLetterDepth.Set(float64(s.CachedInfo().State.Msgs))
		} else if ctx.Err() == nil {
			m.log.Debug("cannot sample the dead-letter depth", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
