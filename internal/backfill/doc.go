// Package backfill turns files of contacts or emails into crmsync job
// messages: it reads CSV, JSON Lines or plain text (gzip-compressed or not)
// as a stream, checks and maps every row, chunks the good rows into jobs
// within the worker's limits, and publishes them to JetStream
// asynchronously with deterministic job ids, so that running the same
// backfill again within the duplicate window enqueues nothing twice.
//
// A Backfill is one run as the enqueue command makes it, from a Config:
// New opens the input (a file or stdin), Publish derives the id, runs
// -strict's check, publishes the jobs and saves the backfill's Record,
// Wait follows their results. The command only parses flags and prints,
// through Hooks and the returned Report and Summary.
//
// Bad rows are reported with their line number and reason (RowError) and,
// by the caller's choice, skipped or fatal. Follow and Status read the
// results and dead letters of a backfill's jobs back into a Summary;
// Status expects as many jobs as the backfill's Record (kept in the KV
// bucket CRMSYNC_BACKFILLS by SaveRecord) says were published.
//
// Memory use is constant in the size of the input: one row, the job being
// built and the jobs awaiting their acks (bounded by count and bytes).
package backfill
