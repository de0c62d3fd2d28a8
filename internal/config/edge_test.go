package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"crmsync/internal/config"
)

func loadErr(t *testing.T, env ...string) string {
	t.Helper()
	_, err := config.Load(env)
	if err == nil {
		t.Fatalf("Load(%v): no error", env)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Load(%v) = %T %q, want a one-line *config.Error", env, err, err)
	}
	return err.Error()
}

func TestHTTPAddrDefaultsToLoopback(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("HTTP_ADDR default %q, want 127.0.0.1:8080", c.HTTPAddr)
	}
}

func TestEmbeddedToken(t *testing.T) {
	t.Parallel()
	c, err := config.Load([]string{"EMBEDDED_NATS_TOKEN=tok-canary-1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.EmbeddedNATSToken != "tok-canary-1" {
		t.Errorf("EmbeddedNATSToken = %q", c.EmbeddedNATSToken)
	}
	found := false
	for _, s := range c.SecretValues() {
		found = found || s == "tok-canary-1"
	}
	if !found {
		t.Error("the token is not among SecretValues")
	}
	path := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(path, []byte("  tok-from-file \n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = config.Load([]string{"EMBEDDED_NATS_TOKEN_FILE=" + path})
	if err != nil {
		t.Fatal(err)
	}
	if c.EmbeddedNATSToken != "tok-from-file" {
		t.Errorf("EMBEDDED_NATS_TOKEN_FILE gave %q, want surrounding whitespace trimmed", c.EmbeddedNATSToken)
	}
}

func TestSecretFileRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	readable := filepath.Join(dir, "readable")
	if err := os.WriteFile(readable, []byte("canary-secret-55"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o644); err != nil { // umask may have cut it
		t.Fatal(err)
	}
	msg := loadErr(t, "KLIPY_API_KEY_FILE="+readable)
	if !strings.HasPrefix(msg, "KLIPY_API_KEY_FILE: ") || !strings.Contains(msg, "readable by everyone") || strings.Contains(msg, "canary") {
		t.Errorf("world-readable secret file: %q", msg)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("k", 70<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := loadErr(t, "KLIPY_API_KEY_FILE="+big); !strings.HasPrefix(msg, "KLIPY_API_KEY_FILE: ") || !strings.Contains(msg, "64 KiB") {
		t.Errorf("oversized secret file: %q", msg)
	}
	spaced := filepath.Join(dir, "spaced")
	if err := os.WriteFile(spaced, []byte("\t canary-key \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]string{"KLIPY_API_KEY_FILE=" + spaced})
	if err != nil {
		t.Fatal(err)
	}
	if c.KlipyAPIKey != "canary-key" {
		t.Errorf("KlipyAPIKey = %q, want surrounding whitespace trimmed", c.KlipyAPIKey)
	}
}

func TestReplicasNeedACluster(t *testing.T) {
	t.Parallel()
	if msg := loadErr(t, "STREAM_REPLICAS=3"); !strings.HasPrefix(msg, "STREAM_REPLICAS: ") || !strings.Contains(msg, "cluster") {
		t.Errorf("STREAM_REPLICAS=3 with the embedded server: %q", msg)
	}
	if _, err := config.Load([]string{"STREAM_REPLICAS=3", "NATS_URL=nats://a:4222,nats://b:4222"}); err != nil {
		t.Errorf("STREAM_REPLICAS=3 with NATS_URL: %v", err)
	}
}

// Credential errors name the variable to set, never a Go field.
func TestCredentialErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"KLICKTIPP_USERNAME=ann"}, "KLICKTIPP_PASSWORD: "},
		{[]string{"KLICKTIPP_USERNAME=ann", "KLICKTIPP_DEVELOPER_KEY=not-hex", "KLICKTIPP_CUSTOMER_KEY=c"}, "KLICKTIPP_DEVELOPER_KEY: "},
		{[]string{"CLICKYID_API_KEY=ck_live_nothex"}, "CLICKYID_API_KEY: "},
	}
	for _, tc := range cases {
		msg := loadErr(t, tc.env...)
		if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "Config.") || strings.Contains(msg, "Password is") || strings.Contains(msg, "nothex") {
			t.Errorf("Load(%v) = %q, want it to start %q and name no Go field or secret", tc.env, msg, tc.want)
		}
	}
	if _, err := config.Load([]string{"KLICKTIPP_USERNAME=ann", "KLICKTIPP_PASSWORD=pw"}); err != nil {
		t.Errorf("session auth: %v", err)
	}
	if _, err := config.Load([]string{"KLICKTIPP_USERNAME=ann", "KLICKTIPP_DEVELOPER_KEY=0123abcd", "KLICKTIPP_CUSTOMER_KEY=c"}); err != nil {
		t.Errorf("partner auth: %v", err)
	}
}

func TestSandboxDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplySandbox()
	if c.EmbeddedNATSStore != config.DefaultSandboxStore || c.EmbeddedNATSStore == config.DefaultStore {
		t.Errorf("sandbox store %q, want its own %q", c.EmbeddedNATSStore, config.DefaultSandboxStore)
	}
	if c.KlickTippRate < 100 || c.KlipyRate < 100 || c.ClickyIDRate < 10 {
		t.Errorf("sandbox rates %g %g %g are not generous", c.KlickTippRate, c.KlipyRate, c.ClickyIDRate)
	}
	c, err = config.Load([]string{"EMBEDDED_NATS_STORE=/tmp/x", "KLICKTIPP_RATE=7", "CLICKYID_BURST=2"})
	if err != nil {
		t.Fatal(err)
	}
	c.ApplySandbox()
	if c.EmbeddedNATSStore != "/tmp/x" || c.KlickTippRate != 7 || c.ClickyIDBurst != 2 {
		t.Errorf("sandbox overrode explicit settings: %q %g %d", c.EmbeddedNATSStore, c.KlickTippRate, c.ClickyIDBurst)
	}
	if c.KlipyRate < 100 {
		t.Errorf("unset KLIPY_RATE kept the production default %g in the sandbox", c.KlipyRate)
	}
}

func TestTokenStores(t *testing.T) {
	t.Parallel()
	c, _ := config.Load(nil)
	if got := c.TokenStores(); len(got) != 2 || got[0] != config.DefaultStore || got[1] != config.DefaultSandboxStore {
		t.Errorf("TokenStores() = %v, want both default stores", got)
	}
	c, _ = config.Load([]string{"EMBEDDED_NATS_STORE=/srv/nats"})
	if got := c.TokenStores(); len(got) != 1 || got[0] != "/srv/nats" {
		t.Errorf("TokenStores() = %v, want the set store only", got)
	}
}
