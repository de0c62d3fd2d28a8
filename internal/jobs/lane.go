package jobs

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Lane subjects and consumers (README "How jobs run"). The worker moves
// every valid job from its intake subject onto the lane of its credential
// and priority, crmsync.lanes.<api>.<account>.<live|backfill>, in the same
// stream, and runs it from there through the lane's durable pull consumer
// crmsync-lane-<api>-<account>-<live|backfill>.
const (
	LanesSubjects = "crmsync.lanes.>"
	LanesPrefix   = "crmsync.lanes."
	// LaneConsumerPrefix starts the name of every lane's durable consumer.
	LaneConsumerPrefix = "crmsync-lane-"
)

// Headers the worker sets on a lane message; they carry what the intake
// message said, so the job runs as the message its publisher sent. They
// are the worker's own: publishers never set them.
const (
	headerIntakeSubject = "Crmsync-Intake-Subject"
	headerIntakeSeq     = "Crmsync-Intake-Seq"
	headerIntakeMsgID   = "Crmsync-Intake-Msg-Id"
	headerPublished     = "Crmsync-Published"
	// headerJobID is the job's id as the intake found it, so a lane's
	// fetcher can look up whether it already finished before it runs.
	headerJobID = "Crmsync-Intake-Job-Id"
	// headerIntakeDeliveries is how often the intake message had been
	// delivered when it was moved: above 1 when its job ran from the
	// intake before (and was handed back, checkpointed), so the lane's
	// first delivery is not taken for the job's first.
	headerIntakeDeliveries = "Crmsync-Intake-Deliveries"
)

// The APIs a lane belongs to.
const (
	APIKlickTipp = TargetKlickTipp
	APIKlipy     = TargetKlipy
	APIClickyID  = "clickyid"
)

// APIs lists every API, in the order lanes are listed.
var APIs = []string{APIKlickTipp, APIKlipy, APIClickyID}

var accountRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidAccount reports whether name may name an account: 1 to 64 ASCII
// letters, digits, '_' or '-' (it becomes a NATS subject token and part of
// a consumer name).
func ValidAccount(name string) bool { return accountRE.MatchString(name) }

// API returns the API a job calls: its target for contact.upsert,
// clickyid for email.validate.
func (j *Job) API() string {
	if j.Kind == KindEmailValidate {
		return APIClickyID
	}
	return j.Target
}

// Credential is one API of one account: the unit that has a rate budget.
type Credential struct {
	API     string
	Account string
}

func (c Credential) String() string { return c.API + "/" + c.Account }

// Lane is the queue of one credential's jobs of one priority.
type Lane struct {
	Credential
	Backfill bool
}

// Priority returns PriorityBackfill or PriorityLive.
func (l Lane) Priority() string {
	if l.Backfill {
		return PriorityBackfill
	}
	return PriorityLive
}

// Subject returns the lane's subject, crmsync.lanes.<api>.<account>.<priority>.
func (l Lane) Subject() string {
	return LanesPrefix + l.API + "." + l.Account + "." + l.Priority()
}

// ConsumerName returns the name of the lane's durable consumer,
// crmsync-lane-<api>-<account>-<priority>.
func (l Lane) ConsumerName() string {
	return LaneConsumerPrefix + l.API + "-" + l.Account + "-" + l.Priority()
}

func (l Lane) String() string { return l.API + "/" + l.Account + "/" + l.Priority() }

// laneOf returns the lane of a valid job carrying headers h.
func laneOf(job *Job, h nats.Header) Lane {
	return Lane{Credential: Credential{API: job.API(), Account: job.Account}, Backfill: h.Get(HeaderPriority) == PriorityBackfill}
}

// ParseLaneSubject reads a lane subject back into its lane.
func ParseLaneSubject(subject string) (Lane, bool) {
	rest, ok := strings.CutPrefix(subject, LanesPrefix)
	if !ok {
		return Lane{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || !ValidAccount(parts[1]) || (parts[2] != PriorityLive && parts[2] != PriorityBackfill) {
		return Lane{}, false
	}
	switch parts[0] {
	case APIKlickTipp, APIKlipy, APIClickyID:
	default:
		return Lane{}, false
	}
	return Lane{Credential: Credential{API: parts[0], Account: parts[1]}, Backfill: parts[2] == PriorityBackfill}, true
}

// LanesOf returns the live and backfill lanes of each credential.
func LanesOf(creds []Credential) []Lane {
	out := make([]Lane, 0, 2*len(creds))
	for _, c := range creds {
		out = append(out, Lane{Credential: c}, Lane{Credential: c, Backfill: true})
	}
	return out
}

// LaneConsumerConfig is the durable consumer of lane l. It takes ack wait,
// max ack pending and replicas from the intake consumer's configuration
// (ConsumerConfig), so every lane behaves as the intake consumer does.
func LaneConsumerConfig(l Lane, intake jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       l.ConsumerName(),
		Description:   "crmsync lane " + l.String(),
		FilterSubject: l.Subject(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       intake.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: intake.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      intake.Replicas,
	}
}

// laneMsg is a lane message presenting itself as the intake message it
// carries: its intake subject, headers (with the publisher's Nats-Msg-Id)
// and stream sequence. So the job id, dead letters (original subject and
// message id), result and dead-letter dedupe ids and checkpoints are those
// the intake message had: a job moved onto a lane keeps its identity, and
// a worker upgraded mid-job finds the checkpoint its predecessor saved.
// Acks, naks and heartbeats go to the lane message.
type laneMsg struct {
	jetstream.Msg
	subject string
	hdr     nats.Header
	meta    *jetstream.MsgMetadata
	looked  *lookup // whether its job already finished, as the lane's fetcher found (nil: not looked up)
}

// asIntake wraps a message received on a lane. A message missing the
// intake headers (published to a lane by hand) is presented as received.
func asIntake(m jetstream.Msg) jetstream.Msg {
	var looked *lookup
	if p, ok := m.(*prechecked); ok {
		m, looked = p.Msg, p.lookup
	}
	h := m.Headers()
	subj := h.Get(headerIntakeSubject)
	seq, err := strconv.ParseUint(h.Get(headerIntakeSeq), 10, 64)
	meta, merr := m.Metadata()
	if subj == "" || err != nil || merr != nil {
		return m
	}
	orig := nats.Header{}
	for k, v := range h {
		switch k {
		case headerIntakeSubject, headerIntakeSeq, headerIntakeMsgID, headerPublished, headerJobID, headerIntakeDeliveries, HeaderMsgID:
			continue
		}
		orig[k] = v
	}
	if id := h.Get(headerIntakeMsgID); id != "" {
		orig.Set(HeaderMsgID, id)
	}
	md := *meta
	md.Sequence.Stream = seq
	if d, err := strconv.ParseUint(h.Get(headerIntakeDeliveries), 10, 64); err == nil && d > 1 {
		md.NumDelivered += d - 1 // its deliveries from the intake come first
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(headerPublished)); err == nil {
		md.Timestamp = t
	}
	return &laneMsg{Msg: m, subject: subj, hdr: orig, meta: &md, looked: looked}
}

func (m *laneMsg) Subject() string                           { return m.subject }
func (m *laneMsg) Headers() nats.Header                      { return m.hdr }
func (m *laneMsg) Metadata() (*jetstream.MsgMetadata, error) { return m.meta, nil }

// laneMessage builds the lane message for intake message msg of job.
// NATS control headers (Nats-*) are not copied: they were meant for the
// intake publish (Nats-Expected-Last-Sequence would fail this one). Its
// Nats-Msg-Id is derived from the intake sequence, so a move repeated after
// a crash between the lane publish and the intake ack is deduplicated.
func laneMessage(lane Lane, msg jetstream.Msg, meta *jetstream.MsgMetadata, jobID string) *nats.Msg {
	h := nats.Header{}
	for k, v := range msg.Headers() {
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	h.Set(headerIntakeSubject, msg.Subject())
	h.Set(headerIntakeSeq, seq)
	if id := msg.Headers().Get(HeaderMsgID); id != "" {
		h.Set(headerIntakeMsgID, id)
	}
	h.Set(headerPublished, meta.Timestamp.UTC().Format(time.RFC3339Nano))
	h.Set(headerJobID, jobID)
	h.Set(headerIntakeDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	h.Set(HeaderMsgID, "lane:"+seq)
	return &nats.Msg{Subject: lane.Subject(), Header: h, Data: msg.Data()}
}

// ensureLane creates or updates lane l's durable consumer.
func ensureLane(ctx context.Context, js jetstream.JetStream, l Lane, intake jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, JobsStream, LaneConsumerConfig(l, intake))
	if err != nil {
		return nil, fmt.Errorf("lane consumer %s: %w", l.ConsumerName(), err)
	}
	return c, nil
}
