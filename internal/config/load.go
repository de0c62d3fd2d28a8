package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"

	"crmsync/internal/apis"
)

// Error is a configuration error: the variable and what is wrong with it.
// Its message is one line and never contains a secret value.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Load reads the configuration from environ (os.Environ() form, "K=V"),
// reading NAME_FILE for each secret in Secrets when NAME is unset, applies
// defaults and validates. The error, if any, is an *Error.
func Load(environ []string) (*Config, error) {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			m[k] = v
		}
	}
	if err := readSecretFiles(m); err != nil {
		return nil, err
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: m}); err != nil {
		return nil, translate(err)
	}
	c.set = make(map[string]bool, len(m))
	for k, v := range m {
		if v != "" {
			c.set[k] = true
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func readSecretFiles(m map[string]string) error {
	for _, name := range Secrets {
		path := m[name+"_FILE"]
		if path == "" {
			continue
		}
		if m[name] != "" {
			return &Error{Var: name + "_FILE", Reason: "set together with " + name + "; set only one"}
		}
		v, err := readSecretFile(path)
		if err != nil {
			return &Error{Var: name + "_FILE", Reason: err.Error()}
		}
		m[name] = v
	}
	return nil
}

// MaxSecretFile is the largest NAME_FILE accepted (64 KiB).
const MaxSecretFile = 64 << 10

// readSecretFile reads a secret's file: not readable by everyone, at most
// MaxSecretFile bytes, not empty once surrounding whitespace is trimmed.
// The error names the file and never holds its content.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o004 != 0 {
		return "", fmt.Errorf("%s is readable by everyone (mode %04o): refusing it; chmod o-r it (and let only the worker's user or group read it)", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	if len(b) > MaxSecretFile {
		return "", fmt.Errorf("%s is larger than 64 KiB: not a secret's file", path)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// translate turns the env library's errors, which name Go fields, into an
// *Error naming the variable.
func translate(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		v := varOf(pe.Name)
		reason := fmt.Sprintf("not a valid %s", friendlyType(pe.Type.String()))
		if !isSecret(v) {
			reason += " (" + pe.Err.Error() + ")"
		}
		return &Error{Var: v, Reason: reason}
	}
	return &Error{Var: "environment", Reason: err.Error()}
}

func friendlyType(t string) string {
	switch t {
	case "int", "int64":
		return "integer"
	case "float64":
		return "number"
	case "bool":
		return "boolean (true or false)"
	case "time.Duration":
		return "duration (like 30s, 5m, 1h)"
	}
	return t
}

func varOf(field string) string {
	f, ok := reflect.TypeOf(Config{}).FieldByName(field)
	if !ok {
		return field
	}
	name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return name
}

func isSecret(v string) bool {
	for _, s := range Secrets {
		if s == v {
			return true
		}
	}
	return false
}

// Validate checks every value; the first problem is returned as an *Error.
func (c *Config) Validate() error {
	bad := func(v, format string, a ...any) error { return &Error{Var: v, Reason: fmt.Sprintf(format, a...)} }
	if c.NATSURL != "" {
		if err := checkNATSURL(c.NATSURL); err != nil {
			return bad("NATS_URL", "%v", err)
		}
	} else if _, _, err := net.SplitHostPort(c.EmbeddedNATSAddr); err != nil {
		return bad("EMBEDDED_NATS_ADDR", "%q is not host:port", c.EmbeddedNATSAddr)
	}
	if c.EmbeddedNATSStore == "" && c.NATSURL == "" {
		return bad("EMBEDDED_NATS_STORE", "must not be empty")
	}
	if c.NATSURL == "" && c.StreamReplicas > 1 {
		return bad("STREAM_REPLICAS", "is %d, but replicas need a NATS cluster and the embedded server is one server: set NATS_URL to a cluster, or STREAM_REPLICAS=1", c.StreamReplicas)
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		return bad("NATS_USER", "NATS_USER and NATS_PASSWORD must be set together")
	}
	if (c.NATSCert == "") != (c.NATSKey == "") {
		return bad("NATS_CERT", "NATS_CERT and NATS_KEY must be set together")
	}
	for v, p := range map[string]string{"NATS_CREDS": c.NATSCreds, "NATS_NKEY": c.NATSNKey, "NATS_CA": c.NATSCA, "NATS_CERT": c.NATSCert, "NATS_KEY": c.NATSKey, "ACCOUNTS_FILE": c.AccountsFile} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return bad(v, "cannot read %s: %v", p, errors.Unwrap(err))
		}
	}
	for _, p := range []struct {
		v   string
		n   int
		min int
	}{
		{"WORKER_CONCURRENCY", c.Concurrency, 1}, {"WORKER_MAX_ATTEMPTS", c.MaxAttempts, 1},
		{"WORKER_MAX_JOB_BYTES", c.MaxJobBytes, 1024}, {"WORKER_MAX_JOB_ITEMS", c.MaxJobItems, 1},
		{"STREAM_REPLICAS", c.StreamReplicas, 1}, {"KLICKTIPP_BURST", c.KlickTippBurst, 1}, {"KLIPY_BURST", c.KlipyBurst, 1}, {"CLICKYID_BURST", c.ClickyIDBurst, 1},
		{"KLIPY_ORG_BURST", c.KlipyOrgBurst, 1}, {"CLICKYID_SINGLE_BURST", c.ClickyIDSingleBurst, 1}, {"CLICKYID_BULK_BURST", c.ClickyIDBulkBurst, 1},
		{"CLICKYID_TARGET_GROUPS_BURST", c.ClickyIDTargetGroupsBurst, 1}, {"CLICKYID_OFFERS_BURST", c.ClickyIDOffersBurst, 1},
	} {
		if p.n < p.min {
			return bad(p.v, "must be at least %d, got %d", p.min, p.n)
		}
	}
	if c.GCHeapTargetMB < 0 {
		return bad("WORKER_GC_HEAP_TARGET_MB", "must be 0 (off) or more, got %d", c.GCHeapTargetMB)
	}
	if c.Concurrency > 1024 {
		return bad("WORKER_CONCURRENCY", "must be at most 1024, got %d", c.Concurrency)
	}
	for _, p := range []struct {
		v string
		n int
	}{{"WORKER_CONCURRENCY_KLICKTIPP", c.ConcurrencyKlickTipp}, {"WORKER_CONCURRENCY_KLIPY", c.ConcurrencyKlipy}, {"WORKER_CONCURRENCY_CLICKYID", c.ConcurrencyClickyID}, {"WORKER_LIVE_SLOTS", c.LiveSlots}} {
		if p.n < 0 || p.n > c.Concurrency {
			return bad(p.v, "must be between 0 and WORKER_CONCURRENCY (%d), got %d", c.Concurrency, p.n)
		}
	}
	for _, p := range []struct {
		v string
		n int64
	}{{"JOBS_MAX_BYTES", c.JobsMaxBytes}, {"RESULTS_MAX_BYTES", c.ResultsMaxBytes}, {"DLQ_MAX_BYTES", c.DLQMaxBytes}} {
		if p.n != -1 && p.n < 1<<20 {
			return bad(p.v, "must be at least 1048576 (1 MiB), or -1 for no limit, got %d", p.n)
		}
	}
	for _, p := range []struct {
		v string
		d interface{ Seconds() float64 }
	}{
		{"WORKER_ACK_WAIT", c.AckWait}, {"WORKER_SHUTDOWN_GRACE", c.ShutdownGrace}, {"WORKER_RETRY_BASE", c.RetryBaseDelay},
		{"WORKER_RETRY_MAX", c.RetryMaxDelay}, {"WORKER_RATE_LIMIT_HOLD", c.HoldRateLimit}, {"JOBS_DUPLICATE_WINDOW", c.DuplicateWindow},
		{"RESULTS_MAX_AGE", c.ResultsMaxAge}, {"DLQ_MAX_AGE", c.DLQMaxAge}, {"LIMITER_MAX_BLOCK", c.LimiterMaxBlock}, {"HTTP_TIMEOUT", c.HTTPTimeout},
		{"CONSOLE_SESSION_TTL", c.ConsoleSessionTTL},
	} {
		if p.d.Seconds() <= 0 {
			return bad(p.v, "must be a positive duration")
		}
	}
	if c.AckWait.Seconds() < 5 {
		return bad("WORKER_ACK_WAIT", "must be at least 5s, got %s", c.AckWait)
	}
	for _, p := range []struct {
		v string
		r float64
	}{{"KLICKTIPP_RATE", c.KlickTippRate}, {"KLIPY_RATE", c.KlipyRate}, {"CLICKYID_RATE", c.ClickyIDRate}} {
		if !(p.r > 0) || p.r > 1e6 {
			return bad(p.v, "must be a positive number of requests per second, got %g", p.r)
		}
	}
	for _, p := range []struct {
		v string
		r float64
	}{{"KLIPY_ORG_PER_MINUTE", c.KlipyOrgPerMinute}, {"CLICKYID_SINGLE_PER_MINUTE", c.ClickyIDSinglePerMinute},
		{"CLICKYID_BULK_PER_MINUTE", c.ClickyIDBulkPerMinute}, {"CLICKYID_TARGET_GROUPS_PER_MINUTE", c.ClickyIDTargetGroupsPerMinute},
		{"CLICKYID_OFFERS_PER_MINUTE", c.ClickyIDOffersPerMinute}} {
		if !(p.r >= 0) || p.r > 1e8 {
			return bad(p.v, "must be a number of requests per minute (0 turns it off), got %g", p.r)
		}
	}
	for _, p := range []struct{ v, u string }{{"KLICKTIPP_BASE_URL", c.KlickTippBaseURL}, {"KLIPY_BASE_URL", c.KlipyBaseURL}, {"CLICKYID_BASE_URL", c.ClickyIDBaseURL}} {
		if _, err := apis.ParseBaseURL(p.u, c.AllowInsecureHTTP); err != nil {
			return bad(p.v, "%v", err)
		}
	}
	if (c.KlickTippDeveloperKey == "") != (c.KlickTippCustomerKey == "") && !(c.LiveAccounts() && c.KlickTippCustomerKey == "") {
		return bad("KLICKTIPP_DEVELOPER_KEY", "KLICKTIPP_DEVELOPER_KEY and KLICKTIPP_CUSTOMER_KEY must be set together")
	}
	if c.KlickTippCustomerKey != "" && c.KlickTippUsername == "" {
		return bad("KLICKTIPP_USERNAME", "partner auth needs the username too (sent as X-Un)")
	}
	if c.KlickTippPassword != "" && c.KlickTippUsername == "" {
		return bad("KLICKTIPP_USERNAME", "must be set when KLICKTIPP_PASSWORD is")
	}
	if err := c.checkCredentials(); err != nil {
		return err
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return bad("LOG_LEVEL", "%v", err)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return bad("LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}
	if c.ConsolePassword != "" && len([]rune(c.ConsolePassword)) < 12 {
		return bad("CONSOLE_PASSWORD", "must be at least 12 characters")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("HTTP_ADDR", "%q is not host:port (like :8080)", c.HTTPAddr)
	}
	return c.validateOnboarding()
}

// checkNATSURL accepts a comma-separated list of nats://, tls://, ws:// or
// wss:// URLs, each with a host and port. User info is not echoed.
func checkNATSURL(raw string) error {
	for _, one := range strings.Split(raw, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("not a valid URL (expected nats://host:port): %v", err)
		}
		u.User = nil
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: scheme must be nats://, tls://, ws:// or wss://", u.Redacted())
		}
		if u.Hostname() == "" {
			return fmt.Errorf("%q has no host", u.Redacted())
		}
		if p := u.Port(); p != "" {
			if n, err := net.LookupPort("tcp", p); err != nil || n <= 0 {
				return fmt.Errorf("%q has a bad port", u.Redacted())
			}
		}
	}
	return nil
}
