package backfill

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// snapshotIdle is how long a snapshot read waits for a message before it
// asks the server whether any is still to come.
const snapshotIdle = time.Second

// snapshotTaken, when set (by tests), is called right after ReadStream
// has taken its snapshot.
var snapshotTaken func()

// NextSeq returns the sequence the next message stored in stream will get
// (its last sequence + 1). Reading from it sees only what is stored later,
// whatever the clocks say.
func NextSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq + 1, nil
}

// ReadStream calls fn with the messages of stream (only subjects, when
// given), from sequence from (the start when zero). With snapshot true it
// returns after the last message stored when it began (at once when the
// stream is empty; messages deleted meanwhile are not waited for);
// otherwise it follows new messages until ctx is done or fn returns false,
// and returns nil then.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string, subjects []string, from uint64, snapshot bool, fn func(jetstream.Msg) bool) error {
	var last uint64 // snapshot: the last sequence to read
	if snapshot {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs == 0 || info.State.LastSeq < from {
			return nil
		}
		last = info.State.LastSeq
		subjects = nil // NumPending then counts every message, so it reaches 0 at the end
		if snapshotTaken != nil {
			snapshotTaken()
		}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
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
		var m jetstream.Msg
		if snapshot {
			m, err = it.Next(jetstream.NextMaxWait(snapshotIdle))
		} else {
			m, err = it.Next()
		}
		if snapshot && errors.Is(err, nats.ErrTimeout) {
			// Messages deleted since the snapshot never come: stop when
			// the server has nothing left to deliver (every message up to
			// the snapshot's last was stored before it began).
			ci, err := cons.Info(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if ci.NumPending == 0 {
				return nil
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return err
		}
		if !snapshot {
			if !fn(m) {
				return nil
			}
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if meta.Sequence.Stream > last {
			return nil // stored after the snapshot
		}
		if !fn(m) || meta.Sequence.Stream == last || meta.NumPending == 0 {
			return nil
		}
	}
}
