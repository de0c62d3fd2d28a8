package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"crmsync/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil)
	if err != nil {
		t.Fatalf("Load(empty): %v", err)
	}
	if !c.Embedded() || c.EmbeddedNATSAddr != "127.0.0.1:4222" || c.EmbeddedNATSStore != "./data/nats" {
		t.Errorf("NATS defaults: %+v", c)
	}
	if c.Concurrency != 8 || c.AckWait != 60*time.Second || c.MaxAttempts != 8 || c.ShutdownGrace != 30*time.Second {
		t.Errorf("worker defaults: %d %s %d %s", c.Concurrency, c.AckWait, c.MaxAttempts, c.ShutdownGrace)
	}
	if c.LiveSlots != 1 || c.ConcurrencyKlickTipp != 0 || c.JobsMaxBytes != 1<<30 || c.ResultsMaxBytes != 1<<30 || c.DLQMaxBytes != 256<<20 {
		t.Errorf("lane and stream size defaults: %+v", c)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.KlickTippBaseURL != "https://api.klicktipp.com" || c.KlipyRate != 3.3 || c.ClickyIDRate != 0.27 || c.ClickyIDBurst != 5 {
		t.Errorf("other defaults: %+v", c)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		want string // the variable the one-line error must start with
	}{
		{[]string{"WORKER_CONCURRENCY=abc"}, "WORKER_CONCURRENCY: not a valid integer"},
		{[]string{"WORKER_CONCURRENCY=0"}, "WORKER_CONCURRENCY: must be at least 1"},
		{[]string{"WORKER_CONCURRENCY=4", "WORKER_CONCURRENCY_KLIPY=5"}, "WORKER_CONCURRENCY_KLIPY: must be between 0 and WORKER_CONCURRENCY (4)"},
		{[]string{"WORKER_LIVE_SLOTS=-1"}, "WORKER_LIVE_SLOTS: must be between 0"},
		{[]string{"JOBS_MAX_BYTES=1000"}, "JOBS_MAX_BYTES: must be at least 1048576"},
		{[]string{"DLQ_MAX_BYTES=lots"}, "DLQ_MAX_BYTES: not a valid integer"},
		{[]string{"NATS_URL=nats://:bad"}, "NATS_URL: "},
		{[]string{"NATS_URL=http://localhost:4222"}, "NATS_URL: "},
		{[]string{"KLICKTIPP_BASE_URL=http://example.com"}, "KLICKTIPP_BASE_URL: "},
		{[]string{"KLIPY_BASE_URL=ftp://x"}, "KLIPY_BASE_URL: "},
		{[]string{"CLICKYID_RATE=-1"}, "CLICKYID_RATE: "},
		{[]string{"CLICKYID_BULK_PER_MINUTE=-1"}, "CLICKYID_BULK_PER_MINUTE: "},
		{[]string{"KLIPY_ORG_BURST=0"}, "KLIPY_ORG_BURST: "},
		{[]string{"WORKER_ACK_WAIT=soon"}, "WORKER_ACK_WAIT: not a valid duration"},
		{[]string{"WORKER_SHUTDOWN_GRACE=-5s"}, "WORKER_SHUTDOWN_GRACE: "},
		{[]string{"LOG_LEVEL=loud"}, "LOG_LEVEL: "},
		{[]string{"LOG_FORMAT=xml"}, "LOG_FORMAT: "},
		{[]string{"HTTP_ADDR=8080"}, "HTTP_ADDR: "},
		{[]string{"ALLOW_INSECURE_HTTP=perhaps"}, "ALLOW_INSECURE_HTTP: "},
		{[]string{"KLICKTIPP_DEVELOPER_KEY=abc"}, "KLICKTIPP_DEVELOPER_KEY: "},
		{[]string{"NATS_USER=u"}, "NATS_USER: "},
		{[]string{"ACCOUNTS_FILE=/nonexistent/accounts.json"}, "ACCOUNTS_FILE: "},
		{[]string{"KLIPY_API_KEY_FILE=/nonexistent/key"}, "KLIPY_API_KEY_FILE: "},
		{[]string{"CONSOLE_PASSWORD=short"}, "CONSOLE_PASSWORD: must be at least 12 characters"},
		{[]string{"CONSOLE_READ_ONLY=maybe"}, "CONSOLE_READ_ONLY: "},
		{[]string{"CONSOLE_SESSION_TTL=0s"}, "CONSOLE_SESSION_TTL: "},
	}
	for _, tc := range cases {
		_, err := config.Load(tc.env)
		if err == nil {
			t.Errorf("Load(%v): no error", tc.env)
			continue
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Errorf("Load(%v): %T, want *config.Error", tc.env, err)
		}
		if !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%v) = %q, want one line starting %q", tc.env, err, tc.want)
		}
	}
}

func TestLoadAllowsInsecureWhenAsked(t *testing.T) {
	t.Parallel()
	if _, err := config.Load([]string{"KLICKTIPP_BASE_URL=http://127.0.0.1:9000"}); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
	if _, err := config.Load([]string{"KLICKTIPP_BASE_URL=http://example.com", "ALLOW_INSECURE_HTTP=true"}); err != nil {
		t.Errorf("ALLOW_INSECURE_HTTP ignored: %v", err)
	}
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("canary-secret-7f3a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]string{"KLIPY_API_KEY_FILE=" + path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.KlipyAPIKey != "canary-secret-7f3a" {
		t.Errorf("KlipyAPIKey = %q", c.KlipyAPIKey)
	}
	_, err = config.Load([]string{"KLIPY_API_KEY_FILE=" + path, "KLIPY_API_KEY=other"})
	if err == nil || !strings.HasPrefix(err.Error(), "KLIPY_API_KEY_FILE: ") {
		t.Errorf("both set: %v", err)
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	const canary = "canary-9b1e-secret"
	envs := [][]string{
		{"NATS_URL=nats://user:" + canary + "@:bad"},
		{"NATS_URL=http://user:" + canary + "@host:4222"},
		{"KLICKTIPP_BASE_URL=http://u:" + canary + "@example.com"},
		{"KLICKTIPP_DEVELOPER_KEY=" + canary},
		{"NATS_PASSWORD=" + canary},
		{"CONSOLE_PASSWORD=" + canary[:8]},
	}
	for _, e := range envs {
		_, err := config.Load(e)
		if err == nil {
			t.Errorf("Load(%v): no error", e)
			continue
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error leaks the secret: %q", err)
		}
	}
}

// TestSandboxBudgets: the sandbox lifts the organisation's and endpoint
// classes' minute budgets with the per-key rates, unless they are set.
func TestSandboxBudgets(t *testing.T) {
	t.Parallel()
	c, err := config.Load([]string{"CLICKYID_OFFERS_PER_MINUTE=5"})
	if err != nil {
		t.Fatal(err)
	}
	c.ApplySandbox()
	if c.ClickyIDBulkPerMinute < 60*c.ClickyIDRate || c.KlipyOrgPerMinute < 60*c.KlipyRate || c.ClickyIDOffersPerMinute != 5 {
		t.Errorf("sandbox bulk %g/min (ClickyID %g/s), organisation %g/min (Klipy %g/s), offers %g/min (set to 5)",
			c.ClickyIDBulkPerMinute, c.ClickyIDRate, c.KlipyOrgPerMinute, c.KlipyRate, c.ClickyIDOffersPerMinute)
	}
}
