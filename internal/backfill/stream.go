package backfill

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadStream calls fn with the messages of stream (only subjects, when
// given), from since (the start when zero). With snapshot true it returns
// after the last message stored when it began (at once when the stream is
// empty); otherwise it follows new messages until ctx is done or fn
// returns false, and returns nil then.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, subjects []string, since time.Time, snapshot bool, fn func(jetstream.Msg) bool) error {
	if snapshot {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs == 0 {
			return nil
		}
		subjects = nil // NumPending then counts every message, so it reaches 0 at the end
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if !since.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		if !fn(m) {
			return nil
		}
		if snapshot {
			if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 {
				return nil
			}
		}
	}
}
