package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startEmbedded(t *testing.T, cfg EmbeddedConfig) *Embedded {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	e, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// A client without the token, or with a wrong one, is refused; the right
// token (generated into the store, mode 0600) gets in.
func TestEmbeddedRefusesClientsWithoutTheToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEmbedded(t, EmbeddedConfig{StoreDir: dir})
	for name, opts := range map[string][]nats.Option{
		"no token":    nil,
		"wrong token": {nats.Token("not-the-token")},
		"user/pass":   {nats.UserInfo("crmsync", "guess")},
	} {
		nc, err := nats.Connect(e.ClientURL(), append(opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}
	path := filepath.Join(dir, TokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %04o, want 0600", fi.Mode().Perm())
	}
	tok, err := ReadStoreToken(dir)
	if err != nil || tok != e.Token() || len(tok) != 64 {
		t.Fatalf("ReadStoreToken = %q, %v; want the server's 64-character token", tok, err)
	}
	nc, err := Connect(context.Background(), Config{URL: e.ClientURL(), Token: tok}, false, quiet(), Hooks{})
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	nc.Close()
}

func TestEmbeddedUsesTheConfiguredToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEmbedded(t, EmbeddedConfig{StoreDir: dir, Token: "configured-token-1"})
	if _, err := os.Stat(filepath.Join(dir, TokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a configured token still wrote %s (%v)", TokenFile, err)
	}
	nc, err := nats.Connect(e.ClientURL(), nats.Token("configured-token-1"))
	if err != nil {
		t.Fatalf("configured token refused: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(e.ClientURL()); err == nil {
		nc.Close()
		t.Error("connected without the configured token")
	}
}

func TestReadStoreTokenRefusesAReadableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte("abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStoreToken(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadStoreToken(0644 file) = %v, want a refusal saying chmod 600", err)
	}
	if _, err := ReadStoreToken(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadStoreToken(empty dir) = %v, want ErrNotExist", err)
	}
}

// A store last used by the sandbox refuses a real worker, and the reverse.
func TestEmbeddedStoreIsNeverShared(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: dir, Use: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	_, err = StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: dir, Use: "worker"})
	var ue *StoreUseError
	if !errors.As(err, &ue) || ue.Was != "sandbox" || !strings.Contains(err.Error(), "sandbox") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("worker on a sandbox store: %v, want one line saying the sandbox used it", err)
	}
	e = startEmbedded(t, EmbeddedConfig{StoreDir: dir, Use: "sandbox"}) // the sandbox itself may come back
	e.Shutdown()

	other := t.TempDir()
	e, err = StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: other, Use: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	if _, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: other, Use: "sandbox"}); !errors.As(err, &ue) || ue.Was != "worker" {
		t.Fatalf("sandbox on a worker store: %v", err)
	}
}

// An address in use fails at once, naming it (it took 10 s before).
func TestEmbeddedAddressInUseFailsAtOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		e, err := StartEmbedded(EmbeddedConfig{Addr: ln.Addr().String(), StoreDir: t.TempDir()})
		if err == nil {
			e.Shutdown()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || strings.Contains(err.Error(), "10s") {
			t.Errorf("StartEmbedded on a taken address: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("StartEmbedded on a taken address still waiting after 5s")
	}
}
