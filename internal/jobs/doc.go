// Package jobs is the heart of crmsync: the job envelope and its kinds, the
// streams and consumers, the runner that schedules jobs per credential
// into a concurrency-bounded pool, and one handler per kind.
//
// A handler does the work and returns an error whose type decides what the
// runner does with the message (see Permanent and RetryAfter); the runner
// alone acks, naks with a delay, or dead-letters, and publishes the result.
//
// Lanes. Publishers send jobs to the intake subjects crmsync.jobs.<kind>.
// The runner's intake pulls them from the durable consumer Consumer,
// decodes and routes each once (a message that can never succeed is
// dead-lettered there), and moves it onto its lane in the same stream,
// crmsync.lanes.<api>.<account>.<live|backfill> (Lane; backfill when the
// message has HeaderPriority: PriorityBackfill), acking the intake message
// once the lane publish is confirmed. The lane message's Nats-Msg-Id is
// derived from the intake sequence, so a move repeated after a crash is
// deduplicated; its headers carry the intake subject, sequence,
// Nats-Msg-Id, publish time and deliveries so far, and the runner presents
// a lane message as that intake message, so job ids, dead letters, result
// ids, checkpoint keys and delivery counts are what they were before lanes
// (and a job queued by an older worker resumes from its checkpoint). A job that finds a slot free (after the lanes'
// waiting jobs) and its lane with nothing waiting is not moved: it starts
// from its intake message at once, under the same rules (see offer).
//
// Each lane has a durable pull consumer (LaneConsumerConfig), created at
// start for Config.Credentials, when a job for a new credential is moved,
// or when a periodic scan (Config.LaneScan) finds one another replica made;
// the scan also recreates a lane consumer deleted by hand. One fetcher per
// lane keeps one message ready and one behind it (with heartbeats). The scheduler
// fills each free slot from the live lanes first, then the backfill lanes,
// round robin within each, subject to Config.APIConcurrency (per-API caps)
// and Config.LiveSlots (slots backfills may not take). With Config.Pace, a
// lane whose credential is blocked longer than Config.Hold starts nothing,
// and a lane running a job starts another only while its credential has
// budget, so jobs waiting on one credential's rate limit never hold slots
// other credentials' jobs could use. A backfill job's handler context is
// marked with apis.WithBackfill, so limiters serve live requests first.
//
// Job lifecycle on a lane: the envelope is decoded again; the handler runs
// with a checkpoint of the items already done, so a redelivered job skips
// them; the outcome becomes a result on crmsync.results.<kind> (published
// with a Nats-Msg-Id derived from the job, so a redelivery does not publish
// it twice), a nak with a backoff delay (transient failures, counted as
// attempts), a nak until the rate-limit reset (never counted), or a dead
// letter.
package jobs
