// Package limiter decides when a request with one API credential may be
// sent. The goal is the API's whole budget used and none wasted: no 429 in
// steady state, and never a request sent while the API has said to wait.
//
// A Limiter serves one credential (API plus key or username). Callers Wait
// before each request and Observe each response; *Limiter implements
// apis.Limiter, and a Registry hands out one Limiter per credential so that
// accounts sharing a key share its budget. The credential itself is never
// kept: keys, logs and IDs use a truncated SHA-256 of API and credential, and
// metric labels carry the API only.
//
// # Rules
//
// A request goes when all of these allow it:
//
//   - The configured Rate and Burst, a token bucket (golang.org/x/time/rate)
//     for the whole fleet.
//   - Blocks the API imposes. A 429, a Retry-After (seconds or HTTP date) or
//     X-RateLimit-Remaining: 0 blocks every caller of the credential until
//     the later of Retry-After and X-RateLimit-Reset (Unix seconds; values
//     below 1e9 are read as seconds from now). A 429 without a usable hint
//     blocks for an exponential backoff, 1s doubling to 1 min, reset by the
//     next success. Every block is capped at MaxBlock (default 1h).
//   - Pacing. With X-RateLimit-Remaining R > 0 and a reset T ahead, the R
//     requests left are spread evenly over T (at most R/T per second), so the
//     window's budget lasts to its reset rather than going in a burst and
//     then stalling. Later answers for the same window can only lower R.
//
// A reset already in the past (clock skew between us and the API, or a late
// answer from the last window) does not block on its own: with Remaining 0
// the window is taken as over, and a 429 falls back to the backoff. Malformed
// values (garbage, negative) are ignored with a debug log; huge ones are
// capped at MaxBlock. No header value can panic or block for longer than
// MaxBlock.
//
// Requests whose context is marked by apis.WithBackfill go after live ones:
// while a live request of the credential waits in this process, backfill
// requests wait; a live request that must wait with KV writes LiveUntil
// (when its token is due, plus 50 ms) into the shared record, and backfill
// requests of every replica wait until it passes (cause "live").
//
// With Config.Window (an API with several budgets per credential: ClickyID's
// hour for the key and minute per endpoint class), an answer whose
// X-RateLimit-Window names another window is left to that budget's limiter.
// Join makes one apis.Limiter of several budgets a request must fit in at
// once.
//
// Wait blocks at most MaxWait (default 10s); when a request could not go
// within it, Wait returns a *BlockedError at once, which matches
// apis.ErrRateLimited and carries the wait, so the job runner can hand the job
// back with a delay instead of holding a slot (a wait never above MaxBlock,
// whatever the state says). Delay tells the same without taking anything.
//
// # Sharing across replicas
//
// With Config.KV (the bucket CRMSYNC_LIMITS, see EnsureBucket) the state of
// a credential lives in one key, "<api>.<credential hash>", as a small JSON
// record: the fleet bucket as a GCRA theoretical arrival time (TAT), the
// current block and its cause, and the pacing of the API's window.
//
//   - A grant is a compare-and-set (kv.Update with the last revision): read
//     the record, check that a request may go now, advance TAT by 1/Rate
//     and spend one paced request, write it back; on a revision conflict,
//     re-read and retry. The configured Rate is therefore a budget for the
//     fleet, not per process, and it is exact: no replica can spend a token
//     another has spent. When other requests of the process wait on the
//     same credential, the grant advances TAT by one interval for each of
//     them too (as far as the bucket holds tokens now, at most Burst; never
//     while pacing) and hands them those tokens without KV, within 50 ms
//     (unused ones are dropped): concurrent requests share one write. A
//     live grant takes at least what the process's live requests spent in
//     50 ms at their rate over the last second, so a steady stream of
//     requests shares a write with its own next ones (at 1,000 requests a
//     second, one write per 50); at a pace below 20 a second that is one
//     token, and the fleet bucket's tokens and Burst still bound it.
//   - Values read from KV are bounded: block, window reset and LiveUntil at
//     most MaxBlock (plus 5s of clock skew) ahead, TAT at most a burst ahead,
//     a paced request no later than its reset. An out-of-bounds value is
//     capped and the capped one written back, so a poisoned or skewed record
//     holds requests back at most MaxBlock, not until a restart.
//   - Every field only moves forward, so records join like a CRDT: later
//     block wins, larger TAT wins, the same window keeps the smaller
//     remainder. Observations are joined and written the same way, and a
//     KV watch joins every other replica's writes into the local copy
//     within milliseconds, waking waiters, so a 429 seen by one replica
//     blocks the others at once.
//
// Why not leased shares of the budget per replica: the rates involved are small
// (0.27 to 10 requests per second per credential), so one KV round trip
// (about a millisecond) per request costs little, while leases strand
// tokens in idle replicas, need a lease length tuned against the rate, and
// lose precision exactly when the budget is tight. The price of the
// compare-and-set is contention: replicas racing for the same credential
// retry (bounded at 8 attempts, then wait briefly); within one process the
// write is serialised but carries the tokens of every request waiting then
// (measured: 16 callers, 0.06 KV operations per request, BenchmarkSharedGrants).
// TAT compares wall clocks of different replicas, so skew between them
// (NTP keeps it to milliseconds) shifts a little budget between replicas but
// does not raise the fleet's total beyond one burst.
//
// Each process also keeps its own x/time/rate bucket at the fleet rate: a
// replica alone never exceeds it, and it is warm when KV fails.
//
// If KV fails (NATS unreachable, timeout after KVTimeout, default 1s), the
// limiter warns once and limits locally for KVRetry (default 5s) before
// trying KV again, and
// says so at info when KV works again. While it is down each replica allows
// the full configured rate on its own, so a fleet of N may send up to N
// times the rate; blocks the APIs impose still apply, locally. Local blocks
// are written to KV on recovery.
//
// # Concurrency
//
// Limiter and Registry are safe for concurrent use. A Limiter made by New
// with KV owns one goroutine (its watch); the limiters of a Registry share
// one watch of the whole bucket (one goroutine and one JetStream consumer
// per process) and one view of KV's health, so an outage warns once per
// API, not once per credential. Close stops a watch and waits for it, after
// which the limiter limits locally. A nil *metrics.Metrics records nothing.
//
// # Metrics
//
// crmsync_limiter_wait_seconds{api} (time each granted Wait took),
// crmsync_limiter_blocks_total{api,cause} (blocks imposed by an API and seen
// by this replica; cause "429", "retry_after" or "remaining_zero") and
// crmsync_limiter_budget_tokens{api} (tokens available now, zero while
// blocked, summed over credentials). The api label is the limiter's API: a
// budget of an API has its own ("clickyid_bulk", "klipy_org").
package limiter
