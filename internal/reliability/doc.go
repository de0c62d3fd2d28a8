// Package reliability holds crmsync's reliability and security suite
// (GitHub issue 8). It has no production code: its tests prove, with
// assertions that can fail, that under faults the worker loses nothing,
// wastes little and leaks nothing.
//
// The tests run the real worker binary (built once per test binary in
// TestMain) as a subprocess, pointed at the fake APIs (klicktipptest,
// klipytest, clickyidtest) served by the test process on loopback, and at a
// NATS server that is either in the test process (brokertest), a separate
// nats-server process built from the module in go.mod, or the worker's own
// embedded server. They wait on events only: log lines read from the
// worker's stdout and stderr, results and dead letters read with ordered
// consumers, and the fakes' counters; every wait is bounded in time.
//
// Scenarios (heavy ones are skipped under -short):
//
//   - Crash: a 20,000-contact backfill, the worker SIGKILLed five times at
//     random moments and restarted; nothing is lost and the repeated API calls
//     stay within what was in flight since the last checkpoint.
//   - Broker restart: the embedded server (the worker process restarted on
//     the same store) and a separate nats-server process killed and restarted
//     on the same store and port mid-run.
//   - Cluster: two worker replicas on a 3-node JetStream cluster with
//     STREAM_REPLICAS=3 share the consumer and Klipy's one rate budget while
//     a node is SIGKILLed and restarted on its store; every job finishes
//     once and every stream and bucket is R3 and current at the end.
//   - Fleet: three replicas on a 3-node cluster (STREAM_REPLICAS=3) run a
//     ClickyID backfill and a session-mode KlickTipp backfill for two
//     accounts within budgets below the fakes' limits while one replica and
//     the node leading CRMSYNC_JOBS are SIGKILLed and restarted; every job
//     finishes once, no credential's window goes over its limit, no request
//     is sent inside an announced block, sessions left open are at most the
//     killed replica's slots, and live jobs published into the saturated
//     fleet start within 10 s. BenchmarkFleetKV measures compare-and-set
//     writes/s into one KV bucket on R1 and R3.
//   - API faults: 5xx, hangs past HTTP_TIMEOUT, connection resets, malformed
//     bodies and sessions expiring mid-job; every job completes or is
//     dead-lettered with a reason, and every session is logged out.
//   - 429 storm: a rate-limit block longer than all retry attempts together
//     dead-letters nothing, and no request reaches the API before the
//     announced reset.
//   - Hostile input: a corpus of malformed, oversized and adversarial job
//     messages, each dead-lettered or failed per item with a clear reason,
//     while the worker keeps serving.
//   - Graceful shutdown: SIGTERM during a busy run exits 0 within the grace
//     period with every session logged out; a restart finishes the rest.
//   - Onboarding: an invite from the real enqueue binary, followed through
//     the fake grant page to the callback of one replica, makes a second,
//     never restarted replica run the account in partner mode; reused,
//     expired, tampered and rejected links and a flood get their 4xx and
//     store nothing; revoke and re-grant reach the second replica; no key
//     is in any stream, bucket, log line or /metrics.
//   - Secrets: canary values in every secret variable (inline and as
//     NAME_FILE) never appear in logs, /metrics, results, dead letters or any
//     other message on the broker.
//   - Goroutine leaks: every package with tests verifies goleak in TestMain.
//
// With CRMSYNC_RELIABILITY_REPORT=path set, the suite writes its figures
// (jobs, faults injected by kind, items lost, duplicate API calls, hostile
// inputs, kills, restarts) as JSON to path and as Markdown to path.md.
// CRMSYNC_RELIABILITY_SEED fixes the random choices (kill moments, fault
// draws); CRMSYNC_RELIABILITY_RACE=1 builds the worker with -race.
//
// Run it with:
//
//	go test -race -count=1 -v ./internal/reliability
package reliability
