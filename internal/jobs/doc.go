// Package jobs is the heart of crmsync: the job envelope and its kinds, the
// streams and the durable consumer, the runner that pulls jobs into a
// concurrency-bounded pool, and one handler per kind.
//
// A handler does the work and returns an error whose type decides what the
// runner does with the message (see Permanent and RetryAfter); the runner
// alone acks, naks with a delay, or dead-letters, and publishes the result.
//
// Job lifecycle: a message is pulled only when a pool slot is free; its
// envelope is decoded and validated (a message that can never succeed goes to
// the dead-letter stream at once); the handler runs with a checkpoint of the
// items already done, so a redelivered job skips them; the outcome becomes a
// result on crmsync.results.<kind> (published with a Nats-Msg-Id derived
// from the job, so a redelivery does not publish it twice), a nak with a
// backoff delay (transient failures, counted as attempts), a nak until the
// rate-limit reset (never counted), or a dead letter.
package jobs
