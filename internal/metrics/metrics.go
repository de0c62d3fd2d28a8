// Package metrics defines every Prometheus metric crmsync exports, in one
// place, so names and labels stay consistent and each is registered once.
//
// Components take a *Metrics; a nil *Metrics is valid and records nothing,
// so tests and library users need not build one.
package metrics

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the collectors. Create it once per process with New.
type Metrics struct {
	JobsTotal        *prometheus.CounterVec   // crmsync_jobs_total{kind,outcome}
	ItemsTotal       *prometheus.CounterVec   // crmsync_items_total{kind,outcome}
	JobRetries       *prometheus.CounterVec   // crmsync_job_retries_total{kind,reason}
	DeadLetters      *prometheus.CounterVec   // crmsync_dead_letters_total{kind}
	JobDuration      *prometheus.HistogramVec // crmsync_job_duration_seconds{kind}
	InFlight         prometheus.Gauge         // crmsync_jobs_in_flight
	ConsumerPending  prometheus.Gauge         // crmsync_consumer_pending
	APIRequests      *prometheus.CounterVec   // crmsync_api_requests_total{api,status}
	APIDuration      *prometheus.HistogramVec // crmsync_api_request_duration_seconds{api}
	SessionsOpened   prometheus.Counter       // crmsync_klicktipp_sessions_opened_total
	SessionsClosed   prometheus.Counter       // crmsync_klicktipp_sessions_closed_total
	SessionsOpen     prometheus.Gauge         // crmsync_klicktipp_sessions_open
	SessionRelogins  prometheus.Counter       // crmsync_klicktipp_session_relogins_total
	LimiterWait      *prometheus.HistogramVec // crmsync_limiter_wait_seconds{api}
	LimiterBlocks    *prometheus.CounterVec   // crmsync_limiter_blocks_total{api,cause}
	LimiterBudget    *prometheus.GaugeVec     // crmsync_limiter_budget_tokens{api}
	NATSConnected    prometheus.Gauge         // crmsync_nats_connected
	NATSReconnects   prometheus.Counter       // crmsync_nats_reconnects_total
	ResultsPublished *prometheus.CounterVec   // crmsync_results_published_total{kind,status}
	DeadLetterDepth  prometheus.Gauge         // crmsync_dead_letter_depth
	BuildInfo        *prometheus.GaugeVec     // crmsync_build_info{version,revision,goversion}
	LanePending      *prometheus.GaugeVec     // crmsync_lane_pending{api,account,priority}
	LaneInFlight     *prometheus.GaugeVec     // crmsync_lane_in_flight{api,account,priority}
	LaneOldestAge    *prometheus.GaugeVec     // crmsync_lane_oldest_job_age_seconds{api,account,priority}
	JobStartDelay    *prometheus.HistogramVec // crmsync_job_start_delay_seconds{api,priority}

	// Sampled every 15 s by the worker's heartbeat (internal/console).
	Ready             prometheus.Gauge     // crmsync_ready
	CredentialBlocked *prometheus.GaugeVec // crmsync_credential_blocked_seconds{api,credential}
}

// The label values known in advance. New creates every counter and
// histogram series with them at 0, so dashboards and alerts see a series
// before its first event (rate() of an absent series is no data, not 0).
var (
	Kinds          = []string{"contact.upsert", "email.validate"}
	JobOutcomes    = []string{"succeeded", "partial", "failed", "dead_lettered"}
	ItemOutcomes   = []string{"succeeded", "failed"}
	RetryReasons   = []string{"transient", "rate_limited", "shutdown", "yielded", "checkpoint_unavailable"}
	ResultStatuses = []string{"succeeded", "partial", "failed"}
	APIs           = []string{"klicktipp", "klipy", "clickyid"}
	BlockCauses    = []string{"429", "retry_after", "remaining_zero"}
)

// Histogram buckets, in seconds: round numbers. A job's go from 0.1 s to
// 1 h (a 200-contact KlickTipp job at the default 10 requests/s takes
// about a minute); an API request's from 5 ms to 30 s (HTTP_TIMEOUT's
// default).
var (
	JobBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	APIBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
)

// New creates the collectors and registers them on reg (which may be nil to
// skip registration). It panics if a metric is already registered on reg,
// which is a programming error.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_jobs_total", Help: "Jobs finished, by kind and outcome (succeeded, partial, failed, dead_lettered); hand-backs are crmsync_job_retries_total.",
		}, []string{"kind", "outcome"}),
		ItemsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_items_total", Help: "Items (contacts, emails) finished, by kind and outcome (succeeded, failed), counted as each finishes.",
		}, []string{"kind", "outcome"}),
		JobRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_job_retries_total", Help: "Jobs handed back to the queue, by kind and reason (transient, rate_limited, shutdown, yielded, checkpoint_unavailable).",
		}, []string{"kind", "reason"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_dead_letters_total", Help: "Messages published to the dead-letter stream, by kind.",
		}, []string{"kind"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_job_duration_seconds", Help: "Time from the start of a job attempt to its outcome.",
			Buckets: JobBuckets,
		}, []string{"kind"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_jobs_in_flight", Help: "Jobs being processed by this replica now.",
		}),
		ConsumerPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_consumer_pending", Help: "Messages waiting in the durable consumer (num_pending), sampled.",
		}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_api_requests_total", Help: "HTTP requests to the APIs, by API and status (0: no response).",
		}, []string{"api", "status"}),
		APIDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_api_request_duration_seconds", Help: "HTTP request duration, by API.",
			Buckets: APIBuckets,
		}, []string{"api"}),
		SessionsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_klicktipp_sessions_opened_total", Help: "KlickTipp sessions opened by a job's login (re-logins are counted apart).",
		}),
		SessionsClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_klicktipp_sessions_closed_total", Help: "KlickTipp sessions closed (logout answered, or the session had already expired).",
		}),
		SessionsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_klicktipp_sessions_open", Help: "KlickTipp sessions open now.",
		}),
		SessionRelogins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_klicktipp_session_relogins_total", Help: "KlickTipp sessions that expired mid-job and were logged in again.",
		}),
		LimiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_limiter_wait_seconds", Help: "Time requests waited on the rate limiter, by API.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 1800},
		}, []string{"api"}),
		LimiterBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_limiter_blocks_total", Help: "Rate-limit blocks imposed by an API, by API and cause (429, retry_after, remaining_zero).",
		}, []string{"api", "cause"}),
		LimiterBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_limiter_budget_tokens", Help: "Tokens available now in the rate limiter, by API (summed over credentials).",
		}, []string{"api"}),
		NATSConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_nats_connected", Help: "1 when connected to NATS, else 0.",
		}),
		NATSReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_nats_reconnects_total", Help: "Reconnections to NATS.",
		}),
		ResultsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_results_published_total", Help: "Job results published, by kind and status.",
		}, []string{"kind", "status"}),
		DeadLetterDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_dead_letter_depth", Help: "Messages in the dead-letter stream (CRMSYNC_DLQ) now, sampled.",
		}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_build_info", Help: "Always 1; the labels say which build runs (module version, VCS revision, Go version).",
		}, []string{"version", "revision", "goversion"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_ready", Help: "1 when this replica is ready (NATS connected, streams bound; what /readyz says), else 0; sampled every 15 s.",
		}),
		CredentialBlocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_credential_blocked_seconds", Help: "Seconds until an API's block of a credential ends, fleet-wide from CRMSYNC_LIMITS (credential: the limiter's hashed id); absent when not blocked; sampled every 15 s.",
		}, []string{"api", "credential"}),
		LanePending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_lane_pending", Help: "Jobs waiting in a lane's consumer, not yet delivered (num_pending), sampled every 5 s.",
		}, []string{"api", "account", "priority"}),
		LaneInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_lane_in_flight", Help: "Jobs of a lane running in this replica now.",
		}, []string{"api", "account", "priority"}),
		LaneOldestAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_lane_oldest_job_age_seconds", Help: "Age (since its publish) of the oldest job still on a lane, 0 when the lane is empty, sampled.",
		}, []string{"api", "account", "priority"}),
		JobStartDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_job_start_delay_seconds", Help: "Time from a job's publish to the start of its first attempt, by API and priority (live, backfill).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400},
		}, []string{"api", "priority"}),
	}
	m.BuildInfo.WithLabelValues(build()).Set(1)
	m.initLabels()
	if reg != nil {
		reg.MustRegister(m.Ready, m.CredentialBlocked)
		reg.MustRegister(m.JobsTotal, m.ItemsTotal, m.JobRetries, m.DeadLetters, m.JobDuration,
			m.InFlight, m.ConsumerPending, m.APIRequests, m.APIDuration,
			m.SessionsOpened, m.SessionsClosed, m.SessionsOpen, m.SessionRelogins,
			m.LimiterWait, m.LimiterBlocks, m.LimiterBudget, m.NATSConnected, m.NATSReconnects,
			m.ResultsPublished, m.DeadLetterDepth, m.BuildInfo,
			m.LanePending, m.LaneInFlight, m.LaneOldestAge, m.JobStartDelay)
	}
	return m
}

// initLabels creates the series of the known label values at 0.
func (m *Metrics) initLabels() {
	for _, k := range Kinds {
		for _, o := range JobOutcomes {
			m.JobsTotal.WithLabelValues(k, o)
		}
		for _, o := range ItemOutcomes {
			m.ItemsTotal.WithLabelValues(k, o)
		}
		for _, r := range RetryReasons {
			m.JobRetries.WithLabelValues(k, r)
		}
		for _, s := range ResultStatuses {
			m.ResultsPublished.WithLabelValues(k, s)
		}
		m.DeadLetters.WithLabelValues(k)
		m.JobDuration.WithLabelValues(k)
	}
	m.JobsTotal.WithLabelValues("invalid", "dead_lettered")
	m.DeadLetters.WithLabelValues("invalid")
	for _, a := range APIs {
		m.APIDuration.WithLabelValues(a)
		m.LimiterWait.WithLabelValues(a)
		m.LimiterBudget.WithLabelValues(a)
		for _, p := range []string{"live", "backfill"} {
			m.JobStartDelay.WithLabelValues(a, p)
		}
		for _, c := range BlockCauses {
			m.LimiterBlocks.WithLabelValues(a, c)
		}
	}
}

// build returns the version, revision and Go version of this binary
// ("(devel)" and "unknown" when the build carries no module or VCS data).
func build() (version, revision, goversion string) {
	version, revision, goversion = "(devel)", "unknown", runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := bi.Main.Version; v != "" {
		version = v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			revision = s.Value
		}
	}
	return
}

// ItemCounters returns the counters of kind's succeeded and failed items
// (crmsync_items_total), which a job's attempt increments as each item
// finishes for good. Nil counters on a nil *Metrics.
func (m *Metrics) ItemCounters(kind string) (succeeded, failed prometheus.Counter) {
	if m == nil {
		return nil, nil
	}
	return m.ItemsTotal.WithLabelValues(kind, "succeeded"), m.ItemsTotal.WithLabelValues(kind, "failed")
}

// ObserveAPI records one HTTP exchange; its signature matches apis.Observer.
func (m *Metrics) ObserveAPI(api, op string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.APIRequests.WithLabelValues(api, strconv.Itoa(status)).Inc()
	m.APIDuration.WithLabelValues(api).Observe(took.Seconds())
}
