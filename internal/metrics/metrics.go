// Package metrics defines every Prometheus metric crmsync exports, in one
// place, so names and labels stay consistent and each is registered once.
//
// Components take a *Metrics; a nil *Metrics is valid and records nothing,
// so tests and library users need not build one.
package metrics

import (
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
}

// New creates the collectors and registers them on reg (which may be nil to
// skip registration). It panics if a metric is already registered on reg,
// which is a programming error.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_jobs_total", Help: "Jobs finished, by kind and outcome (succeeded, partial, failed, dead_lettered, handed_back, retried).",
		}, []string{"kind", "outcome"}),
		ItemsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_items_total", Help: "Items (contacts, emails) processed, by kind and outcome (succeeded, failed).",
		}, []string{"kind", "outcome"}),
		JobRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_job_retries_total", Help: "Jobs handed back to the queue, by kind and reason (transient, rate_limited, shutdown, checkpoint_unavailable).",
		}, []string{"kind", "reason"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_dead_letters_total", Help: "Messages published to the dead-letter stream, by kind.",
		}, []string{"kind"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_job_duration_seconds", Help: "Time from the start of a job attempt to its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
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
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
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
	}
	if reg != nil {
		reg.MustRegister(m.JobsTotal, m.ItemsTotal, m.JobRetries, m.DeadLetters, m.JobDuration,
			m.InFlight, m.ConsumerPending, m.APIRequests, m.APIDuration,
			m.SessionsOpened, m.SessionsClosed, m.SessionsOpen, m.SessionRelogins,
			m.LimiterWait, m.LimiterBlocks, m.LimiterBudget, m.NATSConnected, m.NATSReconnects,
			m.ResultsPublished)
	}
	return m
}

// ObserveAPI records one HTTP exchange; its signature matches apis.Observer.
func (m *Metrics) ObserveAPI(api, op string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.APIRequests.WithLabelValues(api, strconv.Itoa(status)).Inc()
	m.APIDuration.WithLabelValues(api).Observe(took.Seconds())
}
