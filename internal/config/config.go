// Package config is crmsync's environment contract: every variable the
// worker and enqueue read, its default, and its validation. The table in
// README.md is the user's view of the same fields.
//
// Load reads variables (secrets also from NAME_FILE), applies defaults and
// validates; its error is one line naming the variable and what is wrong,
// and never contains a secret's value.
package config

import (
	"time"
)

// Config is the whole environment of a crmsync process. Field names are
// unique so errors can be mapped back to their variable.
type Config struct {
	// NATS. Empty NATSURL starts an embedded JetStream server.
	NATSURL      string `env:"NATS_URL"`
	NATSCreds    string `env:"NATS_CREDS"`    // path to a .creds file
	NATSNKey     string `env:"NATS_NKEY"`     // path to an nkey seed file
	NATSUser     string `env:"NATS_USER"`     // user for user/password auth
	NATSPassword string `env:"NATS_PASSWORD"` // secret
	NATSCA       string `env:"NATS_CA"`       // path to a CA bundle
	NATSCert     string `env:"NATS_CERT"`     // path to a client certificate
	NATSKey      string `env:"NATS_KEY"`      // path to the client certificate's key

	EmbeddedNATSAddr  string `env:"EMBEDDED_NATS_ADDR" envDefault:"127.0.0.1:4222"`
	EmbeddedNATSStore string `env:"EMBEDDED_NATS_STORE" envDefault:"./data/nats"` // the sandbox's default is ./data/sandbox
	// EmbeddedNATSToken is the token the embedded server requires (secret).
	// Empty: generated once into <EmbeddedNATSStore>/auth.token (0600).
	EmbeddedNATSToken string `env:"EMBEDDED_NATS_TOKEN"`

	// Worker.
	Concurrency     int           `env:"WORKER_CONCURRENCY" envDefault:"8"`
	AckWait         time.Duration `env:"WORKER_ACK_WAIT" envDefault:"60s"`
	MaxAttempts     int           `env:"WORKER_MAX_ATTEMPTS" envDefault:"8"`
	ShutdownGrace   time.Duration `env:"WORKER_SHUTDOWN_GRACE" envDefault:"30s"`
	MaxJobBytes     int           `env:"WORKER_MAX_JOB_BYTES" envDefault:"1048576"`
	MaxJobItems     int           `env:"WORKER_MAX_JOB_ITEMS" envDefault:"10000"`
	RetryBaseDelay  time.Duration `env:"WORKER_RETRY_BASE" envDefault:"2s"`
	RetryMaxDelay   time.Duration `env:"WORKER_RETRY_MAX" envDefault:"5m"`
	HoldRateLimit   time.Duration `env:"WORKER_RATE_LIMIT_HOLD" envDefault:"10s"`
	DuplicateWindow time.Duration `env:"JOBS_DUPLICATE_WINDOW" envDefault:"1h"`
	ResultsMaxAge   time.Duration `env:"RESULTS_MAX_AGE" envDefault:"168h"`
	DLQMaxAge       time.Duration `env:"DLQ_MAX_AGE" envDefault:"720h"`
	StreamReplicas  int           `env:"STREAM_REPLICAS" envDefault:"1"`
	LimiterMaxBlock time.Duration `env:"LIMITER_MAX_BLOCK" envDefault:"1h"`
	HTTPTimeout     time.Duration `env:"HTTP_TIMEOUT" envDefault:"30s"`
	// GCHeapTargetMB is the heap size (MiB) below which the garbage
	// collector runs less often (GOGC up to 500, never below 100); 0 leaves
	// the collector as Go sets it, as does a GOGC in the environment.
	GCHeapTargetMB int `env:"WORKER_GC_HEAP_TARGET_MB" envDefault:"64"`
	// CPUProfile, when set, is a file the worker writes a CPU profile of
	// its whole run to (go tool pprof reads it), for finding where its time
	// goes; empty: no profile.
	CPUProfile string `env:"WORKER_CPU_PROFILE"`

	// Lanes: per-API caps on jobs running at once (0 is WORKER_CONCURRENCY)
	// and the slots only live jobs may take (at most WORKER_CONCURRENCY-1
	// take effect).
	ConcurrencyKlickTipp int `env:"WORKER_CONCURRENCY_KLICKTIPP" envDefault:"0"`
	ConcurrencyKlipy     int `env:"WORKER_CONCURRENCY_KLIPY" envDefault:"0"`
	ConcurrencyClickyID  int `env:"WORKER_CONCURRENCY_CLICKYID" envDefault:"0"`
	LiveSlots            int `env:"WORKER_LIVE_SLOTS" envDefault:"1"`

	// Stream sizes in bytes; -1 is unlimited.
	JobsMaxBytes    int64 `env:"JOBS_MAX_BYTES" envDefault:"1073741824"`
	ResultsMaxBytes int64 `env:"RESULTS_MAX_BYTES" envDefault:"1073741824"`
	DLQMaxBytes     int64 `env:"DLQ_MAX_BYTES" envDefault:"268435456"`

	HTTPAddr  string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"` // the image sets :8080
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`

	// KlickTipp.
	KlickTippBaseURL      string  `env:"KLICKTIPP_BASE_URL" envDefault:"https://api.klicktipp.com"`
	KlickTippUsername     string  `env:"KLICKTIPP_USERNAME"`
	KlickTippPassword     string  `env:"KLICKTIPP_PASSWORD"`      // secret
	KlickTippDeveloperKey string  `env:"KLICKTIPP_DEVELOPER_KEY"` // secret
	KlickTippCustomerKey  string  `env:"KLICKTIPP_CUSTOMER_KEY"`  // secret
	KlickTippRate         float64 `env:"KLICKTIPP_RATE" envDefault:"10"`
	KlickTippBurst        int     `env:"KLICKTIPP_BURST" envDefault:"10"`

	// Klipy CRM.
	KlipyBaseURL string  `env:"KLIPY_BASE_URL" envDefault:"https://api.klipy.ai/api/v1"`
	KlipyAPIKey  string  `env:"KLIPY_API_KEY"` // secret
	KlipyRate    float64 `env:"KLIPY_RATE" envDefault:"3.3"`
	KlipyBurst   int     `env:"KLIPY_BURST" envDefault:"10"`
	// Budget shared by the keys of one organisation (ACCOUNTS_FILE's
	// "organization"), beside each key's; 0 turns it off.
	KlipyOrgPerMinute float64 `env:"KLIPY_ORG_PER_MINUTE" envDefault:"1000"`
	KlipyOrgBurst     int     `env:"KLIPY_ORG_BURST" envDefault:"50"`

	// ClickyID.
	ClickyIDBaseURL string  `env:"CLICKYID_BASE_URL" envDefault:"https://clickyid.com/api/v1"`
	ClickyIDAPIKey  string  `env:"CLICKYID_API_KEY"` // secret
	ClickyIDRate    float64 `env:"CLICKYID_RATE" envDefault:"0.27"`
	ClickyIDBurst   int     `env:"CLICKYID_BURST" envDefault:"5"`
	// Per-minute budgets of the endpoint classes, per key, within the
	// hourly one (CLICKYID_RATE); 0 turns a class's off.
	ClickyIDSinglePerMinute       float64 `env:"CLICKYID_SINGLE_PER_MINUTE" envDefault:"100"`
	ClickyIDSingleBurst           int     `env:"CLICKYID_SINGLE_BURST" envDefault:"200"`
	ClickyIDBulkPerMinute         float64 `env:"CLICKYID_BULK_PER_MINUTE" envDefault:"10"`
	ClickyIDBulkBurst             int     `env:"CLICKYID_BULK_BURST" envDefault:"20"`
	ClickyIDTargetGroupsPerMinute float64 `env:"CLICKYID_TARGET_GROUPS_PER_MINUTE" envDefault:"50"`
	ClickyIDTargetGroupsBurst     int     `env:"CLICKYID_TARGET_GROUPS_BURST" envDefault:"100"`
	ClickyIDOffersPerMinute       float64 `env:"CLICKYID_OFFERS_PER_MINUTE" envDefault:"30"`
	ClickyIDOffersBurst           int     `env:"CLICKYID_OFFERS_BURST" envDefault:"60"`

	// KlickTipp partner onboarding (see onboarding.go).
	KlickTippPartnerAccountID string `env:"KLICKTIPP_PARTNER_ACCOUNT_ID"`
	KlickTippAppURL           string `env:"KLICKTIPP_APP_URL" envDefault:"https://app.klicktipp.com"`
	OnboardingAddr            string `env:"ONBOARDING_ADDR"`
	OnboardingPublicURL       string `env:"ONBOARDING_PUBLIC_URL"`
	OnboardingSecret          string `env:"ONBOARDING_SECRET"`            // secret
	AccountsMasterKey         string `env:"ACCOUNTS_MASTER_KEY"`          // secret
	AccountsMasterKeyPrevious string `env:"ACCOUNTS_MASTER_KEY_PREVIOUS"` // secret

	AccountsFile      string `env:"ACCOUNTS_FILE"`
	AllowInsecureHTTP bool   `env:"ALLOW_INSECURE_HTTP" envDefault:"false"`

	// Operator console under /console/ on HTTP_ADDR: off unless
	// CONSOLE_PASSWORD is set (or in sandbox mode on a loopback listener).
	ConsolePassword   string        `env:"CONSOLE_PASSWORD"` // secret; at least 12 characters
	ConsoleReadOnly   bool          `env:"CONSOLE_READ_ONLY" envDefault:"false"`
	ConsoleSessionTTL time.Duration `env:"CONSOLE_SESSION_TTL" envDefault:"12h"`

	set map[string]bool // variables present in the environment, for ApplySandbox and TokenStores
}

// Secrets lists the variables whose values are secret. Each may instead be
// given as NAME_FILE, the path of a file holding the value: at most 64 KiB,
// not readable by everyone (mode o-r), surrounding whitespace trimmed.
// Their values never appear in logs or errors.
var Secrets = []string{
	"NATS_PASSWORD", "EMBEDDED_NATS_TOKEN",
	"KLICKTIPP_PASSWORD", "KLICKTIPP_DEVELOPER_KEY", "KLICKTIPP_CUSTOMER_KEY",
	"KLIPY_API_KEY", "CLICKYID_API_KEY",
	"ONBOARDING_SECRET", "ACCOUNTS_MASTER_KEY", "ACCOUNTS_MASTER_KEY_PREVIOUS",
	"CONSOLE_PASSWORD",
}

// DefaultStore and DefaultSandboxStore are the embedded server's store
// dirs when EMBEDDED_NATS_STORE is unset: the real worker's and the
// sandbox's, which never share one.
const (
	DefaultStore        = "./data/nats"
	DefaultSandboxStore = "./data/sandbox"
)

// IsSet reports whether the variable name (or name_FILE) was in the
// environment Load read.
func (c *Config) IsSet(name string) bool { return c.set[name] || c.set[name+"_FILE"] }

// ApplySandbox turns the defaults into the sandbox's, for `worker
// -sandbox`: its own store dir (DefaultSandboxStore) and generous rate
// limits (the fakes have nothing to protect, and a 10,000-row try should
// take seconds, not minutes), still enforced by the limiter. Variables set
// in the environment keep their values.
func (c *Config) ApplySandbox() {
	if !c.IsSet("EMBEDDED_NATS_STORE") {
		c.EmbeddedNATSStore = DefaultSandboxStore
	}
	for _, r := range []struct {
		v    string
		f    *float64
		rate float64
	}{{"KLICKTIPP_RATE", &c.KlickTippRate, SandboxRate}, {"KLIPY_RATE", &c.KlipyRate, SandboxRate}, {"CLICKYID_RATE", &c.ClickyIDRate, SandboxClickyIDRate}} {
		if !c.IsSet(r.v) {
			*r.f = r.rate
		}
	}
	for _, b := range []struct {
		v string
		n *int
	}{{"KLICKTIPP_BURST", &c.KlickTippBurst}, {"KLIPY_BURST", &c.KlipyBurst}, {"CLICKYID_BURST", &c.ClickyIDBurst},
		{"KLIPY_ORG_BURST", &c.KlipyOrgBurst}, {"CLICKYID_SINGLE_BURST", &c.ClickyIDSingleBurst}, {"CLICKYID_BULK_BURST", &c.ClickyIDBulkBurst},
		{"CLICKYID_TARGET_GROUPS_BURST", &c.ClickyIDTargetGroupsBurst}, {"CLICKYID_OFFERS_BURST", &c.ClickyIDOffersBurst}} {
		if !c.IsSet(b.v) {
			*b.n = SandboxBurst
		}
	}
	// The organisation's and the endpoint classes' minute budgets no
	// tighter than the sandbox's per-key rates.
	for _, r := range []struct {
		v    string
		f    *float64
		rate float64
	}{{"KLIPY_ORG_PER_MINUTE", &c.KlipyOrgPerMinute, SandboxRate * 60}, {"CLICKYID_SINGLE_PER_MINUTE", &c.ClickyIDSinglePerMinute, SandboxClickyIDRate * 60},
		{"CLICKYID_BULK_PER_MINUTE", &c.ClickyIDBulkPerMinute, SandboxClickyIDRate * 60}, {"CLICKYID_TARGET_GROUPS_PER_MINUTE", &c.ClickyIDTargetGroupsPerMinute, SandboxClickyIDRate * 60},
		{"CLICKYID_OFFERS_PER_MINUTE", &c.ClickyIDOffersPerMinute, SandboxClickyIDRate * 60}} {
		if !c.IsSet(r.v) {
			*r.f = r.rate
		}
	}
}

// The sandbox's rate-limit defaults (requests per second and burst per
// credential): KlickTipp and Klipy 500/s, ClickyID 50/s (a bulk call
// carries 100 emails), bursts of 50.
const (
	SandboxRate         = 500
	SandboxClickyIDRate = 50
	SandboxBurst        = 50
)

// TokenStores lists the store dirs whose auth.token a client of the
// embedded server (enqueue) may use, in order: EMBEDDED_NATS_STORE when
// set, else the worker's and the sandbox's default stores.
func (c *Config) TokenStores() []string {
	if c.IsSet("EMBEDDED_NATS_STORE") {
		return []string{c.EmbeddedNATSStore}
	}
	return []string{DefaultStore, DefaultSandboxStore}
}

// Embedded reports whether the worker should start its own NATS server.
func (c *Config) Embedded() bool { return c.NATSURL == "" }

// SecretValues returns the non-empty secret values, for redaction.
func (c *Config) SecretValues() []string {
	var out []string
	for _, s := range []string{c.NATSPassword, c.EmbeddedNATSToken, c.KlickTippPassword, c.KlickTippDeveloperKey, c.KlickTippCustomerKey, c.KlipyAPIKey, c.ClickyIDAPIKey, c.ConsolePassword} {
		if s != "" {
			out = append(out, s)
		}
	}
	return append(out, c.onboardingSecrets()...)
}
