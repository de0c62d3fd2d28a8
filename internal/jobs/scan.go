package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// scan runs every LaneScan until ctx is done: it binds lanes other
// replicas created, recreates lane consumers deleted by hand (their
// messages stay in the stream and are delivered to the new consumer), and
// samples the lane metrics.
//
// Besides, it binds at once a lane another replica creates, from the
// server's consumer-created advisories (where the NATS user may not
// subscribe to them, the scan finds the lane within LaneScan).
func (s *scheduler) scan(ctx context.Context) {
	created := make(chan string, 64)
	if nc := s.r.js.Conn(); nc != nil {
		sub, err := nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED."+JobsStream+".*", func(m *nats.Msg) {
			select {
			case created <- m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]:
			default: // the scan catches up
			}
		})
		if err == nil {
			defer func() { _ = sub.Unsubscribe() }()
		}
	}
	t := time.NewTicker(s.r.cfg.LaneScan)
	defer t.Stop()
	s.scanOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.scanOnce(ctx)
		case name := <-created:
			if l, ok := parseLaneConsumer(name); ok {
				bctx, cancel := context.WithTimeout(ctx, natsTimeout)
				if _, err := s.lane(bctx, l); err != nil && ctx.Err() == nil {
					s.r.log.Warn("cannot bind lane", "lane", l.String(), "err", err)
				}
				cancel()
			}
		}
	}
}

func (s *scheduler) scanOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*natsTimeout)
	defer cancel()
	st, err := s.r.js.Stream(ctx, JobsStream)
	if err != nil {
		return
	}
	names := st.ConsumerNames(ctx)
	present := map[string]bool{}
	for n := range names.Name() {
		present[n] = true
		if l, ok := parseLaneConsumer(n); ok {
			if _, err := s.lane(ctx, l); err != nil && ctx.Err() == nil {
				s.r.log.Warn("cannot bind lane", "lane", l.String(), "err", err)
			}
		}
	}
	if names.Err() != nil {
		return // a partial list proves no consumer missing
	}
	s.mu.Lock()
	lanes := make([]*lane, 0, len(s.lanes))
	for _, l := range s.lanes {
		lanes = append(lanes, l)
	}
	s.mu.Unlock()
	for _, l := range lanes {
		if !present[l.ConsumerName()] {
			s.r.log.Warn("lane consumer is missing (deleted by hand?); recreating it", "lane", l.String())
			if err := s.recreate(ctx, l); err != nil {
				s.r.log.Warn("cannot recreate lane consumer yet", "lane", l.String(), "err", err)
			}
		}
		s.sample(ctx, st, l)
	}
}

// sample sets the lane's pending and oldest-job-age gauges.
func (s *scheduler) sample(ctx context.Context, st jetstream.Stream, l *lane) {
	m := s.r.m
	if m == nil {
		return
	}
	info, err := l.consumer().Info(ctx)
	if err != nil {
		return
	}
	labels := []string{l.API, l.Account, l.Priority()}
	m.LanePending.WithLabelValues(labels...).Set(float64(info.NumPending))
	age := 0.0
	if info.NumPending+uint64(info.NumAckPending) > 0 {
		// Acked messages leave a work queue, so the first one left on the
		// lane's subject is its oldest job.
		if raw, err := st.GetMsg(ctx, 0, jetstream.WithGetMsgSubject(l.Subject())); err == nil {
			t := raw.Time
			if p, err := time.Parse(time.RFC3339Nano, raw.Header.Get(headerPublished)); err == nil {
				t = p
			}
			age = max(time.Since(t), 0).Seconds()
		}
	}
	m.LaneOldestAge.WithLabelValues(labels...).Set(age)
}

// parseLaneConsumer reads crmsync-lane-<api>-<account>-<priority>.
func parseLaneConsumer(name string) (Lane, bool) {
	rest, ok := strings.CutPrefix(name, LaneConsumerPrefix)
	if !ok {
		return Lane{}, false
	}
	api, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return Lane{}, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return Lane{}, false
	}
	return ParseLaneSubject(LanesPrefix + api + "." + rest[:i] + "." + rest[i+1:])
}
