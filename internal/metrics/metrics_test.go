package metrics_test

import (
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"crmsync/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape returns what /metrics would serve for a fresh registry.
func scrape(t *testing.T, m func(*metrics.Metrics)) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	mm := metrics.New(reg)
	if m != nil {
		m(mm)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestJobsTotalHelpListsOnlyEmittedOutcomes(t *testing.T) {
	t.Parallel()
	out := scrape(t, nil)
	var help string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "# HELP crmsync_jobs_total ") {
			help = l
		}
	}
	for _, o := range metrics.JobOutcomes {
		if !strings.Contains(help, o) {
			t.Errorf("HELP %q lacks outcome %s", help, o)
		}
	}
	for _, never := range []string{"handed_back", "retried"} {
		if strings.Contains(help, never) {
			t.Errorf("HELP %q lists %s, which is never emitted", help, never)
		}
	}
}

func TestKnownLabelsStartAtZero(t *testing.T) {
	t.Parallel()
	out := scrape(t, nil)
	for _, want := range []string{
		`crmsync_jobs_total{kind="contact.upsert",outcome="dead_lettered"} 0`,
		`crmsync_jobs_total{kind="email.validate",outcome="succeeded"} 0`,
		`crmsync_jobs_total{kind="invalid",outcome="dead_lettered"} 0`,
		`crmsync_items_total{kind="contact.upsert",outcome="failed"} 0`,
		`crmsync_job_retries_total{kind="email.validate",reason="rate_limited"} 0`,
		`crmsync_dead_letters_total{kind="invalid"} 0`,
		`crmsync_results_published_total{kind="contact.upsert",status="partial"} 0`,
		`crmsync_limiter_blocks_total{api="klipy",cause="429"} 0`,
		`crmsync_job_duration_seconds_count{kind="contact.upsert"} 0`,
		`crmsync_api_request_duration_seconds_count{api="clickyid"} 0`,
		`crmsync_dead_letter_depth 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

var le = regexp.MustCompile(`le="([^"]+)"`)

func TestBucketsAreRound(t *testing.T) {
	t.Parallel()
	out := scrape(t, nil)
	var jobTop float64
	for _, l := range strings.Split(out, "\n") {
		m := le.FindStringSubmatch(l)
		if m == nil || m[1] == "+Inf" {
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatalf("bucket %q: %v", m[1], err)
		}
		if len(m[1]) > 6 {
			t.Errorf("bucket %q is not a round number: %s", m[1], l)
		}
		if strings.HasPrefix(l, "crmsync_job_duration_seconds_bucket") {
			jobTop = max(jobTop, v)
		}
	}
	// A 200-contact KlickTipp job makes about 400 requests; at the default
	// 10 requests/s that is 40 s, and a rate-limited one several minutes.
	if jobTop < 600 {
		t.Errorf("job-duration buckets stop at %gs, below a normal 200-item job", jobTop)
	}
}

func TestItemCountersCountEachItem(t *testing.T) {
	t.Parallel()
	out := scrape(t, func(m *metrics.Metrics) {
		ok, failed := m.ItemCounters("contact.upsert")
		ok.Inc()
		ok.Inc()
		failed.Inc()
	})
	for _, want := range []string{
		`crmsync_items_total{kind="contact.upsert",outcome="succeeded"} 2`,
		`crmsync_items_total{kind="contact.upsert",outcome="failed"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var nilM *metrics.Metrics
	if ok, failed := nilM.ItemCounters("contact.upsert"); ok != nil || failed != nil {
		t.Error("nil Metrics returned counters")
	}
}

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	out := scrape(t, nil)
	re := regexp.MustCompile(`(?m)^crmsync_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",revision="[^"]+",version="[^"]+"\} 1$`)
	if !re.MatchString(out) {
		t.Errorf("/metrics lacks crmsync_build_info with the Go version:\n%s", grep(out, "build_info"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
