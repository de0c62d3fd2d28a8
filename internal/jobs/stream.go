package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names of the wire contract (README "Wire contract").
const (
	JobsStream    = "CRMSYNC_JOBS"
	ResultsStream = "CRMSYNC_RESULTS"
	DLQStream     = "CRMSYNC_DLQ"

	JobsSubjects    = "crmsync.jobs.>"
	ResultsSubjects = "crmsync.results.>"
	DLQSubjects     = "crmsync.dlq.>"

	JobsPrefix    = "crmsync.jobs."
	ResultsPrefix = "crmsync.results."
	DLQPrefix     = "crmsync.dlq."

	// DLQInvalid is the dead-letter subject for messages whose kind is
	// missing or unknown.
	DLQInvalid = DLQPrefix + "invalid"

	// Consumer is the durable pull consumer every worker replica binds.
	Consumer = "crmsync-worker"
)

// Headers of the wire contract.
const (
	HeaderJobID            = "Crmsync-Job-Id"
	HeaderError            = "Crmsync-Error"
	HeaderAttempts         = "Crmsync-Attempts"
	HeaderOriginalSubject  = "Crmsync-Original-Subject"
	HeaderResultPart       = "Crmsync-Result-Part" // "1/3" when a result is split
	HeaderMsgID            = "Nats-Msg-Id"
	HeaderDeadLetteredTime = "Crmsync-Dead-Lettered"
)

// StreamConfig tunes the three streams. Zero fields take their defaults.
type StreamConfig struct {
	DuplicateWindow time.Duration // CRMSYNC_JOBS dedupe window; default 1h
	ResultsMaxAge   time.Duration // default 7 days
	DLQMaxAge       time.Duration // default 30 days
	Replicas        int           // default 1; 3 on a cluster
	AckWait         time.Duration // consumer ack wait; default 60s
	MaxAckPending   int           // consumer-wide (all replicas); default 1024, per lane too
	// Largest size of each stream in bytes; 0 takes the default, -1 is
	// unlimited. CRMSYNC_JOBS refuses new publishes when full (a publisher
	// gets an error, nothing queued is dropped); the results and dead-letter
	// streams drop their oldest messages.
	JobsMaxBytes    int64 // default 1 GiB
	ResultsMaxBytes int64 // default 1 GiB
	DLQMaxBytes     int64 // default 256 MiB
}

// Default stream sizes (StreamConfig).
const (
	DefaultJobsMaxBytes    = 1 << 30
	DefaultResultsMaxBytes = 1 << 30
	DefaultDLQMaxBytes     = 256 << 20
)

func (c StreamConfig) withDefaults() StreamConfig {
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = time.Hour
	}
	if c.ResultsMaxAge <= 0 {
		c.ResultsMaxAge = 7 * 24 * time.Hour
	}
	if c.DLQMaxAge <= 0 {
		c.DLQMaxAge = 30 * 24 * time.Hour
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 1024
	}
	for _, p := range []struct {
		v   *int64
		def int64
	}{{&c.JobsMaxBytes, DefaultJobsMaxBytes}, {&c.ResultsMaxBytes, DefaultResultsMaxBytes}, {&c.DLQMaxBytes, DefaultDLQMaxBytes}} {
		if *p.v == 0 {
			*p.v = p.def
		} else if *p.v < 0 {
			*p.v = -1
		}
	}
	return c
}

// Streams returns the configurations of the three streams. CRMSYNC_JOBS
// holds both the intake subjects publishers use (crmsync.jobs.>) and the
// worker's lanes (crmsync.lanes.>).
func Streams(c StreamConfig) []jetstream.StreamConfig {
	c = c.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name: JobsStream, Subjects: []string{JobsSubjects, LanesSubjects},
			Description: "crmsync jobs (work queue): intake subjects and lanes",
			Retention:   jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
			Duplicates: c.DuplicateWindow, Replicas: c.Replicas,
			MaxBytes: c.JobsMaxBytes, Discard: jetstream.DiscardNew,
		},
		{
			Name: ResultsStream, Subjects: []string{ResultsSubjects},
			Description: "crmsync job results",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			MaxAge: c.ResultsMaxAge, Duplicates: min(c.DuplicateWindow, c.ResultsMaxAge), Replicas: c.Replicas,
			MaxBytes: c.ResultsMaxBytes,
		},
		{
			Name: DLQStream, Subjects: []string{DLQSubjects},
			Description: "crmsync dead letters",
			Retention:   jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			MaxAge: c.DLQMaxAge, Duplicates: min(c.DuplicateWindow, c.DLQMaxAge), Replicas: c.Replicas,
			MaxBytes: c.DLQMaxBytes,
		},
	}
}

// ConsumerConfig is the durable intake consumer on CRMSYNC_JOBS: it takes
// what publishers send to crmsync.jobs.>, and the runner moves each job onto
// its lane (LaneConsumerConfig, which copies this one's settings). MaxDeliver is
// unlimited on purpose: rate-limit hand-backs are redeliveries too, and the
// runner counts failed attempts itself and dead-letters after
// WORKER_MAX_ATTEMPTS.
func ConsumerConfig(c StreamConfig) jetstream.ConsumerConfig {
	c = c.withDefaults()
	return jetstream.ConsumerConfig{
		Durable:       Consumer,
		Description:   "crmsync worker replicas",
		FilterSubject: JobsSubjects,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      c.Replicas,
	}
}

// Setup creates or updates the three streams and the durable intake
// consumer, idempotently: running it again with the same config changes
// nothing, and a CRMSYNC_JOBS made by an older worker (crmsync.jobs.> only)
// gains the lane subjects. Lane consumers are the runner's (created when
// their account is known).
func Setup(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Consumer, error) {
	for _, sc := range Streams(c) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return nil, fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, JobsStream, ConsumerConfig(c))
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", Consumer, JobsStream, err)
	}
	return cons, nil
}
