// Package console is crmsync's operator console: server-rendered pages
// under /console/ on the worker's HTTP_ADDR, reading everything from NATS
// (the streams CRMSYNC_JOBS, CRMSYNC_RESULTS and CRMSYNC_DLQ, the
// consumers on CRMSYNC_JOBS, and the KV buckets CRMSYNC_LIMITS,
// CRMSYNC_CHECKPOINTS, CRMSYNC_BACKFILLS and CRMSYNC_REPLICAS), so that
// any replica shows the whole fleet.
//
// # Pages
//
//   - Overview: per API and account, the lanes (every durable consumer on
//     CRMSYNC_JOBS: depth, in flight, oldest job), the rate budget left and
//     any block with its reset time (CRMSYNC_LIMITS), jobs and items
//     finished in the last minute (CRMSYNC_RESULTS); the dead-letter count
//     and the replicas seen in the last minute (CRMSYNC_REPLICAS).
//   - Backfills: every backfill recorded in CRMSYNC_BACKFILLS with its
//     source, size, jobs finished, items succeeded and failed and a progress
//     bar (internal/backfill's Tracker and Summary), and its failed items,
//     also as CSV.
//   - Job: one job by id: its results and items, attempts, its checkpoint
//     while it runs, where it is queued, its dead letter.
//   - Dead letters: filter by kind, account and reason, show one with its
//     body pretty-printed, replay one or the filtered set, purge all
//     (internal/deadletter); each action asks for a confirmation first and
//     is audit-logged.
//   - Accounts: name, API, mode and source of every account, never a
//     secret (an AccountLister; a Revoker adds a revoke action).
//
// Pages are html/template, assets are embedded (no build step, no CDN);
// one small external script reloads the part of a page marked data-live
// every few seconds while the tab is visible.
//
// # Security
//
// With a Password, every page but the login form needs a session: the
// form sets a cookie (HttpOnly, SameSite=Strict, Secure when the request
// came over TLS or with X-Forwarded-Proto: https) holding an expiry and a
// nonce signed with a key derived from the password, so every replica with
// the same password accepts it and changing the password ends every
// session. Failed logins are throttled. Without a Password the console is
// open: the worker allows that only in sandbox mode on a loopback listener.
//
// Every state change is a POST carrying a CSRF token bound to the session
// (and cross-origin POSTs are refused by http.CrossOriginProtection as
// well); ReadOnly refuses every action. Responses carry a Content Security
// Policy without inline script or style, X-Frame-Options: DENY,
// X-Content-Type-Options: nosniff, Referrer-Policy: same-origin and
// Cache-Control: no-store. Nothing secret is rendered: accounts show names
// and modes, limits show the hashed credential id, dead-letter bodies are
// shown as stored (they hold no secrets by contract).
//
// # Heartbeats
//
// Heartbeat keeps one key per running worker in KV bucket CRMSYNC_REPLICAS
// (TTL one minute, rewritten every 15 s, deleted at a clean stop), so
// "replicas seen in the last minute" is exactly the bucket's keys.
package console
